# CPython's FastHistory (dict index) against PyHistory (the definition, the same code the
# MicroPython ports without the native step run): the same verdict, entry number and ring
# contents after every step of seeded random streams (small rings, colliding identities,
# outcomes, clears), and through Guard on random call streams.
import random
from array import array

from microloop_mpy.detectors import PyHistory
from microloop_mpy._cpython_history import FastHistory
from microloop_mpy.history import F_NEW, T_RETRIES


def _state(h):
    return (list(h.ch), list(h.cl), list(h.th), list(h.tl), list(h.oh), list(h.ol),
            list(h.fl), list(h.pe), list(h.ps), [h.sv[k] for k in range(14)], h.sv[15])


def _step(h, thr, exempt, ch, cl, th, tl):
    h.prepare(ch, cl)
    if exempt or (h.c_fl & F_NEW and not thr[T_RETRIES]):
        v = 0
    else:
        v = h.judge(thr, th, tl)
    return v, h.add(v == 0, th, tl)


def test_fast_history_equals_py_history_step_for_step():
    rng = random.Random(5)
    steps = 0
    for stream in range(40):
        size = rng.choice((2, 3, 4, 7, 16, 32))
        window = rng.randint(1, size + 4)
        period = rng.randint(0, 4)
        a, b = PyHistory(size, window, period), FastHistory(size, window, period)
        thr = array("i", [rng.choice((0, 2, 3, 4, 5, 12)) for _ in range(6)])
        ncalls = rng.randint(1, 10)
        for i in range(300):
            c = rng.randrange(ncalls)
            args = (thr, int(rng.random() < 0.1), (c * 8) & 0xFFFF, c * 3, c % 3, 7)
            ra, rb = _step(a, *args), _step(b, *args)
            assert ra == rb, (stream, i)
            if rng.random() < 0.75:
                failed, o = rng.random() < 0.3, rng.randrange(3)
                assert a.report(ra[1], failed, o, o + 1) == b.report(rb[1], failed, o, o + 1)
            if rng.random() < 0.02:
                a.clear()
                b.clear()
            assert _state(a) == _state(b), (stream, i)
            steps += 1
    assert steps == 12000


def test_guard_uses_the_fast_history_on_cpython():
    from microloop_mpy import Guard

    assert type(Guard(None)._history) is FastHistory
