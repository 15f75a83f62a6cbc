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


from array import array


def zeros(typecode, n, fill=0):
    """An array of n items set to `fill`, built from a range rather than a bytes object of the
    same size: some ports (the wasm port) keep such a temporary alive, which would double the
    heap a Guard takes. Allocates the array only (plus a small range object)."""
    if n > 32767:  # beyond a signed 16-bit range value: a temporary is the lesser evil
        a = array(typecode, bytes(n * (2 if typecode in "Hh" else 4)))
    else:
        a = array(typecode, range(n))
    for i in range(n):
        a[i] = fill
    return a

# A fast, allocating JSON path exists only on CPython (see _cpython_scan.py); the reference
# scanner is the definition and runs everywhere.
USE_CPYTHON_SCAN = not IS_MICROPYTHON

# The scanner: on ports with viper, the whole call in one native pass (_pass.py); elsewhere
# (the wasm port, CPython, a firmware whose emitter cannot compile it) the reference scanner
# (scan.py), whose inner loops are plain Python (_twin.py).
try:
    if not IS_MICROPYTHON:
        raise ImportError
    from ._pass import scan_call as PASS_SCAN
except NotImplementedError as e:
    # the port has viper but its emitter cannot compile the pass (armv6m before v1.25: "native
    # method too big"); correct without it, but several times slower: say so once, at import
    print("microloop_mpy: native pass not compiled here (%s): install the .mpy build "
          "(microloop deploy) for full speed" % e)
    PASS_SCAN = None
except (ImportError, SyntaxError, ValueError, MemoryError):
    PASS_SCAN = None  # no viper on this port (wasm), or CPython

# The history's hot path (prepare, detectors, append) as one native step (_hist.py), where
# the port compiles it; elsewhere detectors.PyHistory (the definition) runs.
try:
    if not IS_MICROPYTHON:
        raise ImportError
    from ._hist import step as HIST_STEP
except (ImportError, SyntaxError, ValueError, NotImplementedError, MemoryError):
    HIST_STEP = None
