# On-device benchmark (a report, never a test): runs unchanged on CPython (`make bench` runs
# it there), the unix port (`MICROPYPATH=. .venv/bin/micropython host_tests/bench/device_bench.py`)
# and a board with the guard installed (`mpremote connect PORT run
# host_tests/bench/device_bench.py`). On the device's own clock
# (time.ticks_us): check() p50/p99 of the default policy on 152-byte http_get calls, 24
# distinct calls in turn and one call repeated, next to a naive guard measured in the same
# run (json.loads, sorted keys, json.dumps per value, binascii.crc32, a 32-entry list scan),
# and check() split by phase: scan, rules, detectors (prepare + judge), history (the append).
import gc
import json
import sys

try:
    from time import ticks_us, ticks_diff
except ImportError:  # CPython
    from time import perf_counter_ns

    def ticks_us():
        return perf_counter_ns() // 1000

    def ticks_diff(a, b):
        return a - b

import binascii

from microloop_mpy import Guard
from microloop_mpy import _compat

ROUNDS = 96


def make_call(i):
    return (b'{"tool": "http_get", "args": {"url": "https://api.example.com/v1/items/%04d", '
            b'"timeout": 30, "headers": {"accept": "application/json"}, "retry": false}}' % i)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, len(xs) * p // 100)]


def naive_guard():
    seen = []

    def check(buf, start, end):
        obj = json.loads(buf[start:end])
        args = obj.get("args", {})
        parts = [obj["tool"]]
        for k in sorted(args):
            parts.append(k)
            parts.append(json.dumps(args[k]))
        h = binascii.crc32("\0".join(parts).encode())
        n = 0
        for x in seen:
            if x == h:
                n += 1
        seen.append(h)
        if len(seen) > 32:
            seen.pop(0)
        return 1 if n >= 2 else 0

    return check


def time_stream(check, calls):
    ts = []
    gc.collect()
    for k in range(ROUNDS):
        c = calls[k % len(calls)]
        t0 = ticks_us()
        check(c, 0, len(c))
        ts.append(ticks_diff(ticks_us(), t0))
    return pct(ts, 50), pct(ts, 99)


def phases(calls):
    # check() taken apart, each phase timed on its own for the same stream
    g = Guard(None)
    sc = g._scanner
    h = g._history
    step = g._step
    acc = [[], [], [], []]
    io = getattr(sc, "io", None)  # the native pass leaves its results there
    for k in range(ROUNDS):
        c = calls[k % len(calls)]
        t0 = ticks_us()
        sc.scan(c, 0, len(c))
        t1 = ticks_us()
        # rules: the default policy has none (a policy with rules adds its judge here)
        t2 = ticks_us()
        if io is not None:
            ch, cl, th, tl = io[3], io[4], io[5] ^ 0xFFFF, io[6] ^ 0xFFFF
        else:
            ch, cl, th, tl = sc.call_h, sc.call_l, sc.tool_h ^ 0xFFFF, sc.tool_l ^ 0xFFFF
        if step is not None:
            sv = h.sv
            sv[9] = ch
            sv[10] = cl
            sv[16] = 1
            sv[17] = 0
            sv[18] = th
            sv[19] = tl
            v = step(sv, g._loops, h.r16, h.fl, h.r32, h.ix)
            t3 = ticks_us()
            sv[16] = 2
            sv[20] = 1 if v == 0 else 0
            step(sv, g._loops, h.r16, h.fl, h.r32, h.ix)
        else:
            h.prepare(ch, cl)
            v = h.judge(g._loops, th, tl)
            t3 = ticks_us()
            h.add(v == 0, th, tl)
        t4 = ticks_us()
        for j, (a, b) in enumerate(((t0, t1), (t1, t2), (t2, t3), (t3, t4))):
            acc[j].append(ticks_diff(b, a))
    return [pct(a, 50) for a in acc]


def main():
    fresh = [make_call(i) for i in range(24)]
    same = [make_call(7)]
    time_stream(Guard(None).check, fresh)  # warm up
    rows = []
    for name, calls in (("24 calls in turn", fresh), ("one call repeated", same)):
        ours = time_stream(Guard(None).check, calls)
        naive = time_stream(naive_guard(), calls)
        rows.append((name, ours, naive, phases(calls)))
    impl = sys.implementation
    print("runtime: %s %s, native pass: %s, native history: %s, call: %d bytes" % (
        impl.name, ".".join(str(x) for x in impl.version[:3]), _compat.PASS_SCAN is not None,
        _compat.HIST_STEP is not None, len(fresh[0])))
    print("| stream | check() p50 / p99 us | naive p50 / p99 us | speed-up (p50) |"
          " scan | rules | detectors | history |")
    print("|---|---|---|---|---|---|---|---|")
    for name, ours, naive, ph in rows:
        print("| %s | %d / %d | %d / %d | %.1fx | %d | %d | %d | %d |" % (
            name, ours[0], ours[1], naive[0], naive[1], naive[0] / max(ours[0], 1),
            ph[0], ph[1], ph[2], ph[3]))


main()
