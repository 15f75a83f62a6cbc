# microloop_mpy.fastscan -- the scanner on ports with viper: one call into _pass.scan_call
# validates the whole call and computes its identity (README "Hash definition": the same
# identities and bad-input codes as scan.Scanner, the reference). This module holds its
# preallocated work arrays and leaves the results in an int array the Guard reads.
# Never allocates after __init__.
from array import array

from .crc import crc_state

# seeds: CRC registers after one tag byte (the reference's S_* constants, as 32-bit words)
_TAGS = (0x73, 0x6E, 0x6B, 0x5B, 0x7B, 0x43)  # s n k [ { C
STACK = 13  # index of the stack in the work array (see _pass.py)
LEVEL = 5  # words per container level


def _register(data):
    # the CRC register (unfinished) from the initial one over `data`, as one 32-bit word
    # (allocates: at Guard(...))
    hi, lo = crc_state(0xFFFF, 0xFFFF, data)
    return (hi << 16) | lo


def work_array(max_depth, key_slots):
    """A fresh work array for scan_call: seeds, key identities, stack and key stack."""
    w = array("I", range(STACK + LEVEL * (max_depth + 1) + key_slots))
    for k in range(len(w)):
        w[k] = 0
    for k in range(6):
        w[k] = _register(bytes((_TAGS[k],)))
    w[6] = _register(b"ktool") ^ 0xFFFFFFFF
    w[7] = _register(b"kargs") ^ 0xFFFFFFFF
    w[8] = _register(b"kid") ^ 0xFFFFFFFF
    w[12] = _register(b"{\x00\x00\x00\x00\x00\x00") ^ 0xFFFFFFFF  # the hash of {}
    return w


def io_array(max_depth, key_slots):
    """A fresh in/out array for scan_call."""
    io = array("i", range(15))
    for k in range(15):
        io[k] = 0
    io[0] = max_depth
    io[1] = key_slots
    io[2] = STACK + LEVEL * (max_depth + 1)
    return io


class PassScanner:
    """The work arrays of the single pass (viper), which the Guard calls with them. Its
    results stay in the int array `io`, where the Guard reads them: [3]/[4] the call identity
    (hi/lo), [5]/[6] the tool register after b"C" + name, [7] the name's decoded length,
    [8]/[9] its span, [10] whether it had escapes, [11] args span start + 1 (0: no args), [12]
    its end, [13]/[14] the args hash. (No properties: each one costs about 100 bytes of a
    Pico's heap.)"""

    tool_name = None  # only the CPython fast path sets it

    def __init__(self, max_depth, key_slots):
        self.w = work_array(max_depth, key_slots)
        self.io = io_array(max_depth, key_slots)
