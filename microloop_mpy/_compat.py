# microloop_mpy._compat -- every runtime shim of the core lives here, and only here.
# Nothing else in microloop_mpy asks which runtime it runs on.
# Must never be imported for its side effects on the hot path: names are bound once at import.
import sys

IS_MICROPYTHON = sys.implementation.name == "micropython"

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


try:
    from micropython import heap_lock, heap_unlock
except ImportError:  # CPython: the heap cannot be locked; allocation is allowed there

    def heap_lock():
        return 0

    def heap_unlock():
        return 0


try:
    from time import ticks_ms, ticks_us, ticks_diff
except ImportError:  # CPython: a monotonic clock folded into the same 2**30 tick range
    import time as _time

    _TICKS_MASK = (1 << 30) - 1
    _TICKS_HALF = 1 << 29

    def ticks_ms():
        return int(_time.monotonic() * 1000) & _TICKS_MASK

    def ticks_us():
        return int(_time.monotonic() * 1000000) & _TICKS_MASK

    def ticks_diff(a, b):
        return ((a - b + _TICKS_HALF) & _TICKS_MASK) - _TICKS_HALF


try:
    from array import array
except ImportError:  # pragma: no cover - every supported port has array
    array = None

# A fast, allocating JSON path exists only on CPython (see _cpython_scan.py); the reference
# scanner is the definition and runs everywhere.
USE_CPYTHON_SCAN = not IS_MICROPYTHON

# The scanner's inner loops: viper where the port compiles it, else the pure twin.
try:
    if not IS_MICROPYTHON:
        raise ImportError
    from ._viper import crc_plain, crc_span, skip_ws, fold_member, fold_hash, find_pair

    HAVE_VIPER = True
except (ImportError, SyntaxError, ValueError, NotImplementedError):
    from ._twin import crc_plain, crc_span, skip_ws, fold_member, fold_hash, find_pair

    HAVE_VIPER = False
