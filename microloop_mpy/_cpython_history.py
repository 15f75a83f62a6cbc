# microloop_mpy._cpython_history -- CPython only: the history's hot path written for CPython's
# interpreter. The same entries, verdicts and entry numbers as detectors.PyHistory (the
# definition; tested step for step), with the call index in a dict instead of the open-
# addressing table a device needs, and the scalar slots read through locals with their
# literal indexes (history.py's _HEAD=4, _N=5, _SEQ=6, _LAST_EXEC=7, _LAST_NEW=8, _C_H=9,
# _C_L=10, _C_FL=11, _C_OH=12, _C_OL=13, _C_PREV=15). Allocates freely; never imported on
# MicroPython.
from .detectors import PyHistory


class FastHistory(PyHistory):
    """PyHistory with a dict index: prepare() and add() in a few dict operations."""

    def __init__(self, size, window, cycle_period):
        super().__init__(size, window, cycle_period)
        self._d = {}  # (call_h << 16 | call_l) -> slot of the call's latest entry

    def clear(self):
        super().clear()
        self._d.clear()

    def latest(self, h, l):
        return self._d.get((h << 16) | l, -1)

    def _index_set(self, s):
        self._d[(self.ch[s] << 16) | self.cl[s]] = s

    def _index_drop(self, s):
        k = (self.ch[s] << 16) | self.cl[s]
        if self._d.get(k) == s:
            del self._d[k]
            return True
        return False

    def prepare(self, call_h, call_l):
        sv = self.sv
        sv[9] = call_h
        sv[10] = call_l
        s = self._d.get((call_h << 16) | call_l, -1)
        if s < 0:
            sv[11] = 2  # F_NEW
            sv[12] = 0
            sv[13] = 0
            sv[15] = -1
            return
        sv[11] = self.fl[s] & 12  # its outcome bits
        sv[12] = self.oh[s]
        sv[13] = self.ol[s]
        back = sv[4] - 1 - s  # the entry number held in slot s
        if back < 0:
            back += self.size
        sv[15] = (sv[6] - 1 - back) & 0x3FFFFFFF

    def add(self, executed, th, tl):
        sv = self.sv
        size = self.size
        s = sv[4]
        ch = self.ch
        cl = self.cl
        key = (sv[9] << 16) | sv[10]
        d = self._d
        if sv[5] == size:
            # the evicted entry leaves the index if it is its call's latest
            old = (ch[s] << 16) | cl[s]
            if old != key and d.get(old) == s:
                del d[old]
        ch[s] = sv[9]
        cl[s] = sv[10]
        self.th[s] = th
        self.tl[s] = tl
        self.oh[s] = sv[12]
        self.ol[s] = sv[13]
        fl = sv[11]
        self.fl[s] = fl | 1 if executed else fl
        self.pe[s] = sv[7]
        self.ps[s] = sv[15]
        d[key] = s
        s += 1
        sv[4] = 0 if s == size else s
        if sv[5] < size:
            sv[5] += 1
        entry = sv[6]
        sv[6] = (entry + 1) & 0x3FFFFFFF
        if executed:
            sv[7] = entry
        if fl & 2:
            sv[8] = entry
        return entry
