# microloop_mpy.history -- the ring of recent steps (its arrays, index, restore and reports);
# the detectors that read it are _hist.step (native) or detectors.PyHistory (Python).
# All memory is taken in __init__ (arrays sized by the policy's history); judge(), add() and
# report() never allocate. Entry numbers grow by one per entry (mod 2**30) and are never reused
# while an entry is in the ring.
from ._compat import zeros, const

F_EXECUTED = const(1)  # the call was allowed (it ran, or is running)
F_NEW = const(2)  # its call identity did not occur earlier in the history when it was made
F_HAS = const(4)  # it has an outcome (its own report, or a snapshot); else "none"
F_FAILED = const(8)  # that outcome says ok=False
F_REPORTED = const(16)  # its own report arrived
_OUTCOME_BITS = const(12)  # F_HAS | F_FAILED
_ID_MASK = const(0x3FFFFFFF)

# the scalar state lives in one int array (sv), so the native step (_hist.py) reads and writes
# it with the same layout; these are its indexes (the same numbers as in _hist.py)
_SIZE = const(0)
_WINDOW = const(1)
_CYCLE = const(2)
_MASK = const(3)
_HEAD = const(4)  # slot the next entry goes to
_N = const(5)  # entries held
_SEQ = const(6)  # number of the next entry
_LAST_EXEC = const(7)
_LAST_NEW = const(8)
_C_H = const(9)  # the candidate: the entry the call being judged would make
_C_L = const(10)
_C_FL = const(11)  # F_NEW / F_HAS / F_FAILED of the candidate
_C_OH = const(12)
_C_OL = const(13)
_C_POS = const(14)  # index position found by prepare()
_C_PREV = const(15)  # entry number of the call's latest entry (-1: the call is new)
SV_SIZE = const(24)  # [16..23]: the native step's arguments and results (see _hist.py)

# indexes into a threshold tuple (policy.TOOL_LOOP_KEYS order)
T_IDENTICAL = const(0)
T_REPEAT = const(1)
T_ERRORS = const(2)
T_STALE = const(3)
T_RETRIES = const(4)
T_CYCLE_REPEATS = const(5)


class History:
    """Ring of the last `size` entries: call identity, tool identity, outcome, flags."""

    def __init__(self, size, window, cycle_period):
        self.size = size
        self.window = window
        self.cycle_period = cycle_period
        self.sv = zeros("i", SV_SIZE)
        self.sv[_SIZE] = size
        self.sv[_WINDOW] = window
        self.sv[_CYCLE] = cycle_period
        # the ring's 16-bit fields, one after another in one array (the native step takes it
        # as one pointer), each seen through its own view
        self.r16 = zeros("H", 6 * size)
        v = memoryview(self.r16)
        self.ch = v[0:size]  # call identity
        self.cl = v[size:2 * size]
        self.th = v[2 * size:3 * size]  # tool identity
        self.tl = v[3 * size:4 * size]
        self.oh = v[4 * size:5 * size]  # outcome hash
        self.ol = v[5 * size:6 * size]
        self.fl = bytearray(size)
        # entry number of the executed entry before each entry (-1: none), so the errors
        # detector walks executions only, however many blocked entries lie between them;
        # entry number of the previous entry of the same call (-1: none), so the repeat
        # detector walks only the call's own entries in the window
        self.r32 = zeros("i", 2 * size, -1)
        v = memoryview(self.r32)
        self.pe = v[0:size]
        self.ps = v[size:2 * size]
        self.sv[_LAST_EXEC] = -1
        self.sv[_LAST_NEW] = -1
        # index: call identity -> slot of its latest entry, open addressing with linear
        # probing over the ring's own identities (keeps prepare() flat in `history`)
        tsize = 8
        while tsize < size + (size >> 1):
            tsize <<= 1
        self.mask = tsize - 1
        self.sv[_MASK] = tsize - 1
        self.ix = zeros("h" if tsize < 32768 else "i", tsize, -1)
        self.sv[_C_PREV] = -1  # head, n, seq and the other candidate slots start at 0

    # read by state.py and the tests
    @property
    def n(self):
        return self.sv[_N]

    @property
    def seq(self):
        return self.sv[_SEQ]

    @property
    def c_fl(self):
        return self.sv[_C_FL]

    def clear(self):
        """Forget every entry; entry numbers keep growing. Does not allocate."""
        self.sv[_HEAD] = 0
        self.sv[_N] = 0
        self.sv[_LAST_EXEC] = -1
        self.sv[_LAST_NEW] = -1
        ix = self.ix
        for k in range(self.mask + 1):
            ix[k] = -1

    # -- the index ---------------------------------------------------------------------------
    # An identity (h, l) has its home position at (l ^ (h << 3) ^ (h >> 7)) & mask; the
    # formula is written out in each probe loop below (a call per probe costs on a device).

    def latest(self, h, l):
        """Slot of the latest entry with call identity (h, l), or -1. Does not allocate."""
        ix = self.ix
        mask = self.mask
        k = (l ^ (h << 3) ^ (h >> 7)) & mask  # its home position
        while True:
            s = ix[k]
            if s < 0 or (self.ch[s] == h and self.cl[s] == l):
                self.sv[_C_POS] = k  # where add() puts the candidate, unless the table shifts
                return s
            k = (k + 1) & mask

    def _index_set(self, s):
        # slot s now holds the latest entry of its call: its key's position, found by probing
        self.latest(self.ch[s], self.cl[s])
        self.ix[self.sv[_C_POS]] = s

    def restore(self, entries, seq):
        """Refill the ring from a state file's entries, oldest first (allocation: at boot)."""
        self.clear()
        entries = entries[-self.size:]
        first = (seq - len(entries)) & _ID_MASK  # number of the oldest restored entry
        for e in entries:
            s = self.sv[_HEAD]
            self.ch[s], self.cl[s], self.th[s], self.tl[s], self.oh[s], self.ol[s] = e[:6]
            self.fl[s] = e[6] & 31
            number = (first + self.sv[_N]) & _ID_MASK
            # restored entries fill slots 0, 1, ... in order: slot k holds entry first + k
            prev = self.latest(self.ch[s], self.cl[s])  # before this entry joins the index
            self.ps[s] = (first + prev) & _ID_MASK if prev >= 0 else -1
            self._index_set(s)
            self.pe[s] = self.sv[_LAST_EXEC]
            if e[6] & F_EXECUTED:
                self.sv[_LAST_EXEC] = number
            if e[6] & F_NEW:
                self.sv[_LAST_NEW] = number
            s += 1
            self.sv[_HEAD] = 0 if s == self.size else s
            self.sv[_N] += 1
        self.sv[_SEQ] = seq & _ID_MASK

    def slot(self, back):
        """Slot of the entry `back` steps before the newest (0 = newest). Does not allocate."""
        s = self.sv[_HEAD] - 1 - back
        if s < 0:
            s += self.size
        return s

    def slot_of(self, entry):
        """Slot holding entry number `entry`, or -1 if it is no longer (or never was) held."""
        if type(entry) is not int or entry < 0 or entry > _ID_MASK:
            return -1
        back = (self.sv[_SEQ] - 1 - entry) & _ID_MASK
        if back >= self.sv[_N]:
            return -1
        return self.slot(back)

    def report(self, entry, failed, oh, ol):
        """Record the outcome of an executed entry, once. Returns True if recorded; an entry
        that is gone, was blocked, or was already reported is ignored. Does not allocate."""
        s = self.slot_of(entry)
        if s < 0:
            return False
        f = self.fl[s]
        if not f & F_EXECUTED or f & F_REPORTED:
            return False
        f = (f & ~_OUTCOME_BITS) | F_HAS | F_REPORTED
        if failed:
            f |= F_FAILED
        self.fl[s] = f
        self.oh[s] = oh
        self.ol[s] = ol
        return True
