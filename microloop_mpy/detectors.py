# microloop_mpy.detectors -- the loop detectors and the history's append in Python: the
# definition of what _hist.step does natively, and what runs where the native step cannot
# (the wasm port, CPython, a firmware whose emitter cannot compile it). Loaded only there,
# so a board running the native step does not keep this bytecode in RAM.
# prepare(), judge() and add() never allocate.
from ._compat import const
from .history import History, F_EXECUTED, F_NEW, F_FAILED, F_REPORTED
from .history import T_IDENTICAL, T_REPEAT, T_ERRORS, T_STALE, T_RETRIES, T_CYCLE_REPEATS
from . import codes

# private constants cannot be imported on MicroPython: the same numbers as in history.py
_OUTCOME_BITS = const(12)
_ID_MASK = const(0x3FFFFFFF)
_HEAD = const(4)
_N = const(5)
_SEQ = const(6)
_LAST_EXEC = const(7)
_LAST_NEW = const(8)
_C_H = const(9)
_C_L = const(10)
_C_FL = const(11)
_C_OH = const(12)
_C_OL = const(13)
_C_POS = const(14)
_C_PREV = const(15)


class PyHistory(History):
    """History with its hot path (prepare, judge, add) in Python."""

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
