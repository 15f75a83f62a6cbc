# microloop_mpy.crc -- CRC32 (the zlib/PNG CRC, reflected polynomial 0xEDB88320) kept as two
# 16-bit halves, so that no value ever leaves the small-int range of a 32-bit port.
# The 32-bit table is built once at import, the 16-bit halves on first use (tables16).
# A CRC *state* is the running register (hi, lo) before the final inversion; a finished CRC is
# the state xor 0xFFFF on each half. Feeding bytes to a state continues it: crc(a + b) is the
# state after a, continued over b -- the same as binascii.crc32(b, binascii.crc32(a)).
from ._compat import array, zeros, PASS_SCAN


def _table32():
    # the CRC table as 32-bit words: the single pass (_pass.py) reads it through ptr32. Built
    # with Python ints once, at import (on a 32-bit port the larger ones are heap objects then)
    t = array("I", range(256))
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        t[n] = c
    return t


T32 = _table32()
del _table32
_T16 = []  # (TLO, THI) once built


def tables16():
    """The table as 16-bit halves (TLO, THI), for code that must not make ints >= 2**30: the
    reference scanner and the pure-Python CRC. Built on first use (allocates 1 KB then, once);
    a port with the native pass never needs them for the default policy."""
    if not _T16:
        lo = array("H", range(256))
        hi = array("H", range(256))
        for n in range(256):
            lo[n] = T32[n] & 0xFFFF
            hi[n] = T32[n] >> 16
        _T16.append(lo)
        _T16.append(hi)
    return _T16[0], _T16[1]


def crc_state(hi, lo, data):
    """The CRC register (hi, lo) continued over the bytes `data`, as (hi, lo). Allocates:
    for constants and compiling, never on the hot path."""
    c = (hi << 16) | lo
    for b in data:
        c = T32[(c ^ b) & 0xFF] ^ (c >> 8)
    # the halves as small ints on every port: before v1.24 a long-int result that fits a small
    # int stays a long int, and then every sum on it allocates (seen on an ESP32 with v1.23:
    # the reference scanner allocated under heap_lock); a 16-bit array hands back small ones
    h = _HALVES
    h[0] = c >> 16
    h[1] = c & 0xFFFF
    return h[0], h[1]


_HALVES = array("H", (0, 0))  # crc_state's way back to small ints (no garbage per call)


if PASS_SCAN is not None:
    from ._pass import crc_span16 as _span16
else:
    _span16 = None
    from ._twin import crc_span as _span_twin

# The AES S-box: a fixed nonlinear byte permutation, used to mix member hashes before they are
# summed (a CRC alone is linear, so a plain sum or xor of CRCs collides on swapped values).
SBOX = (
    b"c|w{\xf2ko\xc50\x01g+\xfe\xd7\xabv\xca\x82\xc9}\xfaYG\xf0\xad\xd4\xa2\xaf\x9c\xa4r\xc0"
    b"\xb7\xfd\x93&6?\xf7\xcc4\xa5\xe5\xf1q\xd81\x15\x04\xc7#\xc3\x18\x96\x05\x9a\x07\x12\x80"
    b"\xe2\xeb'\xb2u\t\x83,\x1a\x1bnZ\xa0R;\xd6\xb3)\xe3/\x84S\xd1\x00\xed \xfc\xb1[j\xcb\xbe9"
    b"JLX\xcf\xd0\xef\xaa\xfbCM3\x85E\xf9\x02\x7fP<\x9f\xa8Q\xa3@\x8f\x92\x9d8\xf5\xbc\xb6\xda!"
    b"\x10\xff\xf3\xd2\xcd\x0c\x13\xec_\x97D\x17\xc4\xa7~=d]\x19s`\x81O\xdc\"*\x90\x88F\xee\xb8"
    b"\x14\xde^\x0b\xdb\xe02:\nI\x06$\\\xc2\xd3\xacb\x91\x95\xe4y\xe7\xc87m\x8d\xd5N\xa9lV\xf4"
    b"\xeaez\xae\x08\xbax%.\x1c\xa6\xb4\xc6\xe8\xddt\x1fK\xbd\x8b\x8ap>\xb5fH\x03\xf6\x0ea5W"
    b"\xb9\x86\xc1\x1d\x9e\xe1\xf8\x98\x11i\xd9\x8e\x94\x9b\x1e\x87\xe9\xceU(\xdf\x8c\xa1\x89"
    b"\r\xbf\xe6BhA\x99-\x0f\xb0T\xbb\x16"
)

# The single pass's byte tables (_pass.py and its twin: their `sb`): the S-box, then a class per
# byte, 1 for the bytes that end a string's fast run (a control byte, '"', '\\', a non-ASCII
# byte): one table load where four compares were (about 30 µs a check on a Pico, for 512 bytes)
PASS_TABLES = SBOX + bytes(1 if c < 0x20 or c > 0x7F or c == 0x22 or c == 0x5C else 0
                           for c in range(256))


class CrcState:
    """A CRC register in two 16-bit halves, for the cold paths (outcomes, the state file).

    Neither method allocates (the 16-bit tables of the pure-Python span are taken here)."""

    def __init__(self):
        self.hi = 0xFFFF
        self.lo = 0xFFFF
        self.st = zeros("H", 2)
        self.t16 = None if _span16 is not None else tables16()

    def start(self, hi=0xFFFF, lo=0xFFFF):
        """Restart the register, at the initial one or at a state (hi, lo). Does not allocate."""
        self.hi = hi
        self.lo = lo

    def span(self, buf, start, end):
        """Continue the register over buf[start:end] without slicing. Does not allocate."""
        st = self.st
        st[0] = self.hi
        st[1] = self.lo
        if _span16 is not None:
            _span16(buf, start, end, st, T32)
        else:
            _span_twin(buf, start, end, st, self.t16[0], self.t16[1])
        self.hi = st[0]
        self.lo = st[1]
