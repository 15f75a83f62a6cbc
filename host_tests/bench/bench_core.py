"""Benchmark of the guard core (a report, never a test): per-check p50/p99 in microseconds on
CPython and on the MicroPython unix port, for a ~160-byte call at history 32 and 256, fresh
and repeated calls, next to a naive guard (json.loads + json.dumps(sort_keys) + sha256 + a
deque scan) measured in the same run; the heap Guard(...) takes on MicroPython; and check()
time with 0, 5 and 20 rules on CPython.

Run: make bench   (or .venv/bin/python host_tests/bench/bench_core.py [N])
"""
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "host_tests"))
sys.path.insert(0, str(ROOT))

from runtimes import run_mp  # noqa: E402

WORKER = ROOT / "host_tests" / "bench" / "_bench_worker.py"


def rules_table(n_calls, fresh):
    """check() p50/p99 with the first 0, 5 and 20 rules of a 20-rule policy. fresh: every
    call is new (its rule conditions are evaluated); else 18 calls repeat (a looping agent:
    CPython looks their conditions up by the call's bytes)."""
    from microloop_mpy import Guard

    from mp_locked_replay import RULES20, CALLS  # noqa: E402

    if fresh:
        calls = [c[:-2] + b', "n": %d}}' % i for i, c in
                 ((i, CALLS[i % len(CALLS)]) for i in range(n_calls))]
    else:
        calls = [CALLS[i % len(CALLS)] for i in range(n_calls)]
    rows = []
    for k in (0, 5, 20):
        policy = {"rules": RULES20["rules"][:k], "loops": {"identical": 0, "repeat": 0,
                                                          "stale": 0, "cycle_repeats": 0}}
        g = Guard(policy)
        ts = []
        for i, c in enumerate(calls):
            t0 = time.perf_counter_ns()
            g.check(c)
            ts.append((time.perf_counter_ns() - t0) / 1000)
            if k and i % 100 == 99:
                g.clear_budgets()
        ts.sort()
        rows.append((k, ts[len(ts) // 2], ts[int(len(ts) * 0.99)]))
    return rows


def main():
    n = sys.argv[1] if len(sys.argv) > 1 else "2000"
    results = {rt: json.loads(run_mp(rt, WORKER, [n], timeout=600).strip().splitlines()[-1])
               for rt in ("cpython", "unix")}
    print("call size: %d bytes, %s checks per cell" % (results["cpython"]["call_bytes"], n))
    print()
    print("%-30s %22s %22s" % ("per-check time (us)", "CPython p50 / p99", "unix port p50 / p99"))
    keys = [k for k in results["cpython"] if k.startswith(("guard h", "naive"))]
    for k in keys:
        a = results["cpython"][k]
        b = results["unix"][k]
        print("%-30s %10.2f / %9.2f %10.2f / %9.2f" % (k, a[0], a[1], b[0], b[1]))
    print()
    for rt in ("cpython", "unix"):
        r = results[rt]
        print("%s: naive/guard p50 ratio  repeated %.2fx   fresh %.2fx" % (
            rt, r["naive repeated"][0] / r["guard h32 w16 repeated"][0],
            r["naive fresh"][0] / r["guard h32 w16 fresh"][0]))
    print()
    for rt in ("unix", "wasm"):
        heaps = [json.loads(run_mp(rt, WORKER, [h, "heap"], timeout=120).strip().splitlines()[-1])
                 for h in (32, 256)]
        print("Guard(...) heap on the %s port: history 32: %d bytes, history 256: %d bytes" % (
            rt, heaps[0]["heap"], heaps[1]["heap"]))
    print()
    for fresh in (False, True):
        what = "every call new" if fresh else "18 calls repeating"
        print("%-10s %12s %12s   (CPython, %s, loop detectors off)" % ("rules", "p50 us",
                                                                      "p99 us", what))
        rows = rules_table(int(n), fresh)
        for k, p50, p99 in rows:
            print("%-10d %12.2f %12.2f" % (k, p50, p99))
        print("20 rules / 0 rules (p50): %.2fx" % (rows[2][1] / rows[0][1]))
        print()


if __name__ == "__main__":
    main()
