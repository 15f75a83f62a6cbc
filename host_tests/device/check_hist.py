# Device check: the native history step (_hist.py, compiled by THIS port's emitter or loaded
# from .mpy) against History's own methods (history.py, the definition), bit for bit: the
# verdict, the entry and every array and scalar of the history after every step, on seeded
# random streams (small rings, colliding identities, outcomes, exempt tools, thresholds).
# The host may prepend `N = <steps per stream>`. Last line: "CHECKED <steps> MISMATCH <m>
# NATIVE <0|1>". On CPython (no viper) it prints NATIVE 0 and checks nothing else.
import sys
from array import array

from microloop_mpy.history import F_NEW, T_RETRIES
from microloop_mpy.detectors import PyHistory as History

try:
    N
except NameError:
    N = 200
try:
    if sys.implementation.name != "micropython":
        raise ImportError("CPython has no viper")
    from microloop_mpy._hist import step
    NATIVE = 1
except Exception as e:  # noqa: BLE001
    print("NONATIVE", type(e).__name__, e)
    NATIVE = 0
_seed = [4242]


def rnd(n):
    _seed[0] = (_seed[0] * 1103515245 + 12345) & 0x7FFFFFFF
    return (_seed[0] >> 8) % n


def state(h):
    return (list(h.ch), list(h.cl), list(h.th), list(h.tl), list(h.oh), list(h.ol),
            list(h.fl), list(h.pe), list(h.ps), list(h.ix), [h.sv[k] for k in range(16)])


def python_step(h, thr, exempt, ch, cl, th, tl, defer, executed_if_allowed):
    h.prepare(ch, cl)
    if exempt or (h.c_fl & F_NEW and not thr[T_RETRIES]):
        v = 0
    else:
        v = h.judge(thr, th, tl)
    executed = v == 0 and (executed_if_allowed or not defer)
    return v, h.add(executed, th, tl)


def native_step(h, thr, exempt, ch, cl, th, tl, defer, executed_if_allowed):
    sv = h.sv
    sv[9] = ch
    sv[10] = cl
    sv[16] = 1 if defer else 3
    sv[17] = exempt
    sv[18] = th
    sv[19] = tl
    v = step(sv, thr, h.r16, h.fl, h.r32, h.ix)
    if not defer:
        return sv[21], sv[22]
    sv[16] = 2
    sv[20] = 1 if v == 0 and executed_if_allowed else 0
    e = step(sv, thr, h.r16, h.fl, h.r32, h.ix)
    return v, e


steps = 0
bad = 0
if NATIVE:
    for stream in range(12):
        size = (3, 4, 7, 16, 32)[stream % 5]
        window = 1 + rnd(size + 4)
        period = rnd(5)
        a = History(size, window, period)
        b = History(size, window, period)
        ncalls = 2 + rnd(9)
        thr = array("i", [0, 0, 0, 0, 0, 0])
        for k in range(6):
            thr[k] = (0, 2, 3, 4, 5, 12)[rnd(6)]
        for i in range(N):
            c = rnd(ncalls)
            # identities that collide in the index: few distinct low bits
            ch, cl = (c * 8) & 0xFFFF, (c * 3) & 0xFFFF
            th, tl = c % 3, 7
            exempt = 1 if rnd(10) == 0 else 0
            defer = rnd(3) == 0
            run = rnd(8) != 0  # a deferred call may still be refused (a budget)
            va, ea = python_step(a, thr, exempt, ch, cl, th, tl, defer, run)
            vb, eb = native_step(b, thr, exempt, ch, cl, th, tl, defer, run)
            steps += 1
            if rnd(4):
                failed = rnd(3) == 0
                o = rnd(3)
                a.report(ea, failed, o, o + 1)
                b.report(eb, failed, o, o + 1)
            if rnd(50) == 0:
                a.clear()
                b.clear()
            if (va, ea) != (vb, eb) or state(a) != state(b):
                bad += 1
                if bad <= 3:
                    print("MISMATCH stream", stream, "step", i, (va, ea), (vb, eb))
                    print(" py", state(a))
                    print(" nv", state(b))
                # carry on from the same state
                b = History(size, window, period)
                a = History(size, window, period)
print("CHECKED", steps, "MISMATCH", bad, "NATIVE", NATIVE)
