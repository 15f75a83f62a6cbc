# microloop_mpy.crc -- CRC32 (the zlib/PNG CRC, reflected polynomial 0xEDB88320) kept as two
# 16-bit halves, so that no value ever leaves the small-int range of a 32-bit port.
# Tables are built once at import; every function here is allocation-free.
# A CRC *state* is the running register (hi, lo) before the final inversion; a finished CRC is
# the state xor 0xFFFF on each half. Feeding bytes to a state continues it: crc(a + b) is the
# state after a, continued over b -- the same as binascii.crc32(b, binascii.crc32(a)).
from ._compat import array, zeros, const, PASS_SCAN

_POLY_HI = const(0xEDB8)
_POLY_LO = const(0x8320)

TLO = array("H", bytes(512))
THI = array("H", bytes(512))


def _build_tables():
    for n in range(256):
        hi = 0
        lo = n
        for _ in range(8):
            if lo & 1:
                lo = ((lo >> 1) | ((hi & 1) << 15)) ^ _POLY_LO
                hi = (hi >> 1) ^ _POLY_HI
            else:
                lo = (lo >> 1) | ((hi & 1) << 15)
                hi = hi >> 1
        TLO[n] = lo
        THI[n] = hi


_build_tables()


def crc_state(hi, lo, data):
    """The CRC register (hi, lo) continued over the bytes `data`, as (hi, lo). Allocates:
    for constants and compiling, never on the hot path."""
    for b in data:
        i = (lo ^ b) & 0xFF
        lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ TLO[i]
        hi = (hi >> 8) ^ THI[i]
    return hi, lo


def _table32():
    # the same table as 32-bit words, for the single pass (_pass.py)
    t = array("I", range(256))
    for n in range(256):
        t[n] = (THI[n] << 16) | TLO[n]
    return t


T32 = _table32()
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


class CrcState:
    """A CRC register in two 16-bit halves, for the cold paths (policy compile, outcomes).

    All methods are allocation-free."""

    def __init__(self):
        self.hi = 0xFFFF
        self.lo = 0xFFFF
        self.st = zeros("H", 2)

    def start(self):
        self.hi = 0xFFFF
        self.lo = 0xFFFF

    def byte(self, b):
        """Continue the register over one byte. Does not allocate."""
        lo = self.lo
        i = (lo ^ b) & 0xFF
        self.lo = ((lo >> 8) | ((self.hi & 0xFF) << 8)) ^ TLO[i]
        self.hi = (self.hi >> 8) ^ THI[i]

    def span(self, buf, start, end):
        """Continue the register over buf[start:end] without slicing. Does not allocate."""
        st = self.st
        st[0] = self.hi
        st[1] = self.lo
        if _span16 is not None:
            _span16(buf, start, end, st, T32)
        else:
            _span_twin(buf, start, end, st, TLO, THI)
        self.hi = st[0]
        self.lo = st[1]

