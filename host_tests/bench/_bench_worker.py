# Timing worker for bench_core.py: runs unchanged on CPython and MicroPython and prints one
# JSON line of results. Times each check() individually (p50/p99 over many calls).
import sys
import gc
import json
from array import array

try:
    from time import ticks_us, ticks_diff
except ImportError:
    from time import perf_counter_ns

    def ticks_us():
        return perf_counter_ns() // 1000

    def ticks_diff(a, b):
        return a - b

try:
    from time import perf_counter_ns as _pc

    def now_ns():
        return _pc()
except ImportError:
    def now_ns():
        return ticks_us() * 1000

from microloop_mpy import Guard

MP = sys.implementation.name == "micropython"
N = int(sys.argv[1]) if len(sys.argv) > 1 and __name__ == "__main__" else 2000


def make_call(i):
    # ~160 bytes, realistic: a coding agent reading part of a log file
    return (b'{"tool": "read_file", "args": {"path": "/srv/app/logs/worker-%03d.log", '
            b'"offset": %d, "limit": 4096, "encoding": "utf-8", "follow": false}, "id": "c%d"}'
            % (i % 1000, i * 4096, i % 10))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


def time_calls(guard, calls):
    # timings go to a preallocated array: nothing is allocated between two checks, so no
    # garbage collection lands inside a timed call
    gc.collect()
    out = array("i", range(len(calls)))
    k = 0
    for c in calls:
        t0 = now_ns()
        guard.check(c, 0, len(c))
        out[k] = now_ns() - t0
        k += 1
    return [x / 1000 for x in out]


def naive_guard():
    # the way a user would write it: parse, canonicalize, hash, scan a deque
    import hashlib

    seen = []

    def check(buf, start, end):
        obj = json.loads(buf[start:end])
        if MP:
            canon = json.dumps(obj)
        else:
            canon = json.dumps(obj, sort_keys=True, separators=(",", ":"))
        h = hashlib.sha256(canon.encode()).digest()
        n = 0
        for x in seen[-16:]:
            if x == h:
                n += 1
        seen.append(h)
        if len(seen) > 32:
            del seen[0]
        return 1 if n >= 2 else 0

    class G:
        pass

    g = G()
    g.check = check
    return g


def heap(hist):
    # heap taken by Guard(...) alone (its modules already imported)
    Guard({"history": hist})  # a first Guard loads the modules Guard() imports when needed
    gc.collect()
    before = gc.mem_alloc()
    g = Guard({"history": hist})
    gc.collect()
    taken = gc.mem_alloc() - before
    print(json.dumps({"history": hist, "heap": taken}))
    return g


def main():
    res = {"runtime": sys.implementation.name, "call_bytes": len(make_call(1))}
    fresh = [make_call(i) for i in range(N)]
    same = [make_call(7)] * N
    # a pager-like mix: the same few calls with changing results, so nothing is blocked early
    mixed = [make_call(i % 5) for i in range(N)]
    time_calls(Guard(), fresh)  # warm up the interpreter (caches, first-use paths) once
    for hist, window in ((32, 16), (256, 16), (256, 128)):
        for kind, calls in (("fresh", fresh), ("repeated", same), ("5 calls", mixed)):
            policy = {"history": hist, "loops": {"window": window}}
            g = Guard(policy)
            time_calls(g, calls[:50])  # warm up
            g = Guard(policy)
            ts = time_calls(g, calls)
            res["guard h%d w%d %s" % (hist, window, kind)] = (pct(ts, 50), pct(ts, 99))
    for kind, calls in (("fresh", fresh), ("repeated", same)):
        ts = time_calls(naive_guard(), calls)
        res["naive %s" % kind] = (pct(ts, 50), pct(ts, 99))
    print(json.dumps(res))


if __name__ == "__main__":  # bench_icount.py imports make_call and naive_guard
    if len(sys.argv) > 2 and sys.argv[2] == "heap":
        heap(int(sys.argv[1]))
    else:
        main()
