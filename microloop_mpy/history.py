# microloop_mpy.history -- the ring of recent steps and the loop detectors that read it.
# All memory is taken in __init__ (arrays sized by the policy's history); judge(), add() and
# report() never allocate. Entry numbers grow by one per entry (mod 2**30) and are never reused
# while an entry is in the ring.
from ._compat import zeros, const
from . import codes

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
        self.sv[_HEAD] = 0  # slot the next entry goes to
        self.sv[_N] = 0  # entries held
        self.sv[_SEQ] = 0  # number of the next entry
        # the candidate: the entry the call being judged would make
        self.sv[_C_H] = 0
        self.sv[_C_L] = 0
        self.sv[_C_FL] = 0  # F_NEW / F_HAS / F_FAILED of the candidate
        self.sv[_C_OH] = 0
        self.sv[_C_OL] = 0
        self.sv[_C_POS] = 0  # index position found by prepare()
        self.sv[_C_PREV] = -1  # entry number of the call's latest entry (-1: the call is new)

    # read by state.py and the Guard
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

    def _index_drop(self, s):
        # slot s is about to be overwritten: forget it if the index points to it
        # (backward-shift deletion keeps the table free of tombstones)
        ch = self.ch
        cl = self.cl
        h = ch[s]
        l = cl[s]
        ix = self.ix
        mask = self.mask
        j = (l ^ (h << 3) ^ (h >> 7)) & mask  # its home position
        while True:
            t = ix[j]
            if t < 0:
                return False
            if t == s:
                break
            if ch[t] == h and cl[t] == l:
                return False  # a newer entry of the same call is the latest
            j = (j + 1) & mask
        while True:
            ix[j] = -1
            k = j
            while True:
                k = (k + 1) & mask
                t = ix[k]
                if t < 0:
                    return True
                h = ch[t]
                home = (cl[t] ^ (h << 3) ^ (h >> 7)) & mask  # its home position
                # the entry at k may move to j unless its home lies cyclically in (j, k]
                if j <= k:
                    stays = j < home <= k
                else:
                    stays = home > j or home <= k
                if not stays:
                    ix[j] = t
                    j = k
                    break

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

    def _same(self, a, b):
        # entries a and b match: equal call and equal outcome
        if self.ch[a] != self.ch[b] or self.cl[a] != self.cl[b]:
            return False
        fa = self.fl[a] & _OUTCOME_BITS
        if fa != self.fl[b] & _OUTCOME_BITS:
            return False
        return fa == 0 or (self.oh[a] == self.oh[b] and self.ol[a] == self.ol[b])

    def _matches(self, s):
        # entry s matches the candidate
        if self.ch[s] != self.sv[_C_H] or self.cl[s] != self.sv[_C_L]:
            return False
        f = self.fl[s] & _OUTCOME_BITS
        if f != self.sv[_C_FL] & _OUTCOME_BITS:
            return False
        return f == 0 or (self.oh[s] == self.sv[_C_OH] and self.ol[s] == self.sv[_C_OL])

    def prepare(self, call_h, call_l):
        """Make the candidate for a call: its outcome snapshot is that of the call's latest
        entry, and it is new when no entry has its identity. Does not allocate."""
        self.sv[_C_H] = call_h
        self.sv[_C_L] = call_l
        self.sv[_C_FL] = F_NEW
        self.sv[_C_OH] = 0
        self.sv[_C_OL] = 0
        self.sv[_C_PREV] = -1
        s = self.latest(call_h, call_l)
        if s >= 0:
            self.sv[_C_FL] = self.fl[s] & _OUTCOME_BITS
            self.sv[_C_OH] = self.oh[s]
            self.sv[_C_OL] = self.ol[s]
            back = self.sv[_HEAD] - 1 - s  # the entry number held in slot s
            if back < 0:
                back += self.size
            self.sv[_C_PREV] = (self.sv[_SEQ] - 1 - back) & _ID_MASK

    def judge(self, thr, th, tl):
        """Run the loop detectors for the prepared candidate with thresholds `thr` (a tuple in
        policy.TOOL_LOOP_KEYS order) and tool identity (th, tl). Returns ALLOW or the first
        detector's code. Does not allocate."""
        n = self.sv[_N]
        fl = self.fl
        if self.sv[_C_FL] & F_NEW:
            # a new call matches no entry and has no executions yet: of the detectors only
            # `retries` (by tool, whatever the args) can fire
            return self._retries(thr[T_RETRIES], th, tl)
        # 1. identical: the previous identical-1 entries all match
        k = thr[T_IDENTICAL]
        if k and n >= k - 1:
            ch = self.ch
            cl = self.cl
            c_h = self.sv[_C_H]
            c_l = self.sv[_C_L]
            c_o = self.sv[_C_FL] & _OUTCOME_BITS
            s = self.sv[_HEAD]
            for back in range(k - 1):
                s -= 1
                if s < 0:
                    s += self.size
                if ch[s] != c_h or cl[s] != c_l or fl[s] & _OUTCOME_BITS != c_o:
                    break
                if c_o and (self.oh[s] != self.sv[_C_OH] or self.ol[s] != self.sv[_C_OL]):
                    break
            else:
                return codes.IDENTICAL
        # 2. repeat: repeat-1 executed matches among the previous window-1 entries, counted
        #    from the latest new entry among them on (that entry included)
        k = thr[T_REPEAT]
        if k:
            limit = self.window - 1  # entries back from the newest that count
            if limit > n:
                limit = n
            if self.sv[_LAST_NEW] >= 0:
                d = (self.sv[_SEQ] - 1 - self.sv[_LAST_NEW]) & _ID_MASK
                if d < limit:
                    limit = d + 1  # the latest new entry, included, ends the count
            count = 0
            e = self.sv[_C_PREV]  # only the call's own entries can match: walk their chain
            while e >= 0:
                d = (self.sv[_SEQ] - 1 - e) & _ID_MASK
                if d >= limit:
                    break
                s = self.slot(d)
                if fl[s] & F_EXECUTED and self._matches(s):
                    count += 1
                e = self.ps[s]
            if count >= k - 1:
                return codes.REPEAT
        # 3. cycle: the last p*repeats entries (candidate included) repeat one sequence of p
        k = thr[T_CYCLE_REPEATS]
        if k and self.cycle_period:
            for p in range(2, self.cycle_period + 1):
                if self._cycle(p, p * k):
                    return codes.CYCLE
        # 4. errors: this call's last `errors` executions all reported failed, no other call
        #    executed between them or since the last
        k = thr[T_ERRORS]
        if k:
            count = 0
            s = self.slot_of(self.sv[_LAST_EXEC])
            while s >= 0:
                if self.ch[s] != self.sv[_C_H] or self.cl[s] != self.sv[_C_L]:
                    break
                if fl[s] & (F_REPORTED | F_FAILED) != (F_REPORTED | F_FAILED):
                    break
                count += 1
                if count >= k:
                    return codes.ERROR_LOOP
                s = self.slot_of(self.pe[s])
        # 5. stale: the candidate and the stale-1 entries before it are all not new
        k = thr[T_STALE]
        if k and not self.sv[_C_FL] & F_NEW and n >= k - 1:
            hit = True
            for back in range(k - 1):
                if fl[self.slot(back)] & F_NEW:
                    hit = False
                    break
            if hit:
                return codes.STALE
        return self._retries(thr[T_RETRIES], th, tl)

    def _retries(self, k, th, tl):
        # 6. retries: counting this call, its tool has `retries` executed entries in the window
        if k:
            fl = self.fl
            count = 1
            last = self.window - 1
            if last > self.sv[_N]:
                last = self.sv[_N]
            for back in range(last):
                s = self.slot(back)
                if fl[s] & F_EXECUTED and self.th[s] == th and self.tl[s] == tl:
                    count += 1
            if count >= k:
                return codes.RETRIES
        return codes.ALLOW

    def _cycle(self, p, length):
        # position j in the sequence: 0 is the candidate, j >= 1 the entry j-1 steps back
        if self.sv[_N] < length - 1:
            return False
        if not self._matches(self.slot(p - 1)):  # the candidate starts the repetition
            return False
        # the calls of one period must not all be the same call
        varied = False
        for j in range(1, p):
            s = self.slot(j - 1)
            if self.ch[s] != self.sv[_C_H] or self.cl[s] != self.sv[_C_L]:
                varied = True
                break
        if not varied:
            return False
        for j in range(length - p):
            b = self.slot(j + p - 1)
            if j == 0:
                if not self._matches(b):
                    return False
            elif not self._same(self.slot(j - 1), b):
                return False
        return True

    def add(self, executed, th, tl):
        """Append the candidate as an entry; returns its number. Does not allocate."""
        s = self.sv[_HEAD]
        # the entry evicted from slot s leaves the index, unless it is of the candidate's own
        # call: then the index position found by prepare() simply moves on to slot s
        shifted = False
        if self.sv[_N] == self.size and (self.ch[s] != self.sv[_C_H] or self.cl[s] != self.sv[_C_L]):
            shifted = self._index_drop(s)
        self.ch[s] = self.sv[_C_H]
        self.cl[s] = self.sv[_C_L]
        self.th[s] = th
        self.tl[s] = tl
        self.oh[s] = self.sv[_C_OH]
        self.ol[s] = self.sv[_C_OL]
        self.fl[s] = self.sv[_C_FL] | (F_EXECUTED if executed else 0)
        self.pe[s] = self.sv[_LAST_EXEC]
        self.ps[s] = self.sv[_C_PREV]
        if shifted:
            self._index_set(s)
        else:
            self.ix[self.sv[_C_POS]] = s
        s += 1
        self.sv[_HEAD] = 0 if s == self.size else s
        if self.sv[_N] < self.size:
            self.sv[_N] += 1
        entry = self.sv[_SEQ]
        self.sv[_SEQ] = (entry + 1) & _ID_MASK
        if executed:
            self.sv[_LAST_EXEC] = entry
        if self.sv[_C_FL] & F_NEW:
            self.sv[_LAST_NEW] = entry
        return entry

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
