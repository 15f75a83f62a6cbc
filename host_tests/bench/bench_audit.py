"""Benchmark of `microloop audit` (a report, never a test): ~35,000 tool steps in each log
format, written to a temporary directory by the test suite's own hand-made-log writers, then
read and replayed through the guard (the CPython core, fast path included). Prints a table:
per format, reading time, replay time with one policy and with three side by side, and steps
per second, all in CPU seconds of this process (the machine is shared: CPU time varies less
than wall time); then the whole `microloop audit --json` command end to end (wall time) on
one format.

Run: make bench   (or .venv/bin/python host_tests/bench/bench_audit.py [STEPS])
"""
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "host_tests"))
sys.path.insert(0, str(ROOT))

import test_host_audit as hand  # noqa: E402  (the writers the tests use)

from microloop_host.audit import audit_run, load_policies, read_runs  # noqa: E402

SOURCE = "\n".join(f"{i:4d}: value_{i} = compute(value_{i - 1}, factor={i % 7})" for i in range(40))


def synth_run(rng: random.Random, n: int) -> list:
    """A coding agent's run of n steps: reads, edits and test runs whose output changes,
    with, in one run out of eight, a stuck stretch (the same failing test run, unchanged)."""
    steps = []
    stuck_at = rng.randrange(n) if rng.random() < 0.125 else -1
    fails = 9
    for i in range(n):
        if i == stuck_at:
            steps += [("bash", {"command": "pytest -q tests/test_core.py"},
                       f"FAILED tests/test_core.py::test_x\n{fails} failed", True)] * 4
            continue
        k = i % 3
        if k == 0:
            f = f"src/mod_{rng.randrange(30)}.py"
            steps.append(("bash", {"command": f"cat {f}"}, f"# {f}\n{SOURCE}", True))
        elif k == 1:
            steps.append(("edit", {"path": f"src/mod_{i % 30}.py", "line": i, "text": f"v{i}"},
                          f"edited src/mod_{i % 30}.py line {i}", True))
        else:
            fails = max(0, fails - rng.randrange(2))
            steps.append(("bash", {"command": "pytest -q"},
                          f"{fails} failed, {40 - fails} passed" + "\n." * rng.randrange(3),
                          rng.random() > 0.02))
    return steps[:n]


def write_logs(d: Path, fmt: str, total: int, rng: random.Random) -> int:
    _det, write, name = hand.WRITERS[fmt]
    made = 0
    i = 0
    while made < total:
        steps = synth_run(rng, min(44, total - made))
        (d / f"{i:04d}-{name}").write_text(write(steps), encoding="utf-8")
        made += len(steps)
        i += 1
    return made


def main():
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 35000
    one = load_policies(["default"])
    three = load_policies(["default", "strict", "lenient"])
    rows = []
    with tempfile.TemporaryDirectory(prefix="microloop-bench-audit-") as tmp:
        for fmt in hand.WRITERS:
            d = Path(tmp) / fmt
            d.mkdir()
            write_logs(d, fmt, total, random.Random(14))
            files = sorted(d.iterdir())
            t0 = time.process_time()
            runs = [r for f in files for r in read_runs(f)]
            t_read = time.process_time() - t0
            steps = sum(r.n_calls for r in runs)
            t0 = time.process_time()
            res1 = [audit_run(r, one[0]) for r in runs]
            t_one = time.process_time() - t0
            t0 = time.process_time()
            for r in runs:
                for s in three:
                    audit_run(r, s)
            t_three = time.process_time() - t0
            stopped = sum(1 for r in res1 if r.first_block is not None)
            rows.append((fmt, len(files), len(runs), steps, stopped, t_read, t_one, t_three))
        cmd_fmt = "swe-agent"
        import resource

        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "microloop_host.audit.cli", "--json",
                        str(Path(tmp) / cmd_fmt)], check=True, stdout=subprocess.DEVNULL)
        t_cmd = time.perf_counter() - t0
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_cmd = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    import os

    print(f"microloop audit benchmark: ~{total} steps per format, synthetic coding-agent runs "
          f"of up to 44 steps (default policy stops the stuck ones); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print()
    hdr = ("format", "files", "runs", "steps", "stopped", "read s", "replay s", "steps/s",
           "3 policies s", "steps/s x3")
    print("(read, replay: CPU seconds)")
    print("| " + " | ".join(hdr) + " |")
    print("|" + " --- |" * len(hdr))
    for fmt, nf, nr, st, stp, tr, t1, t3 in rows:
        print(f"| {fmt} | {nf} | {nr} | {st} | {stp} | {tr:.2f} | {t1:.2f} | {st / t1:,.0f} | "
              f"{t3:.2f} | {3 * st / t3:,.0f} |")
    print()
    st = next(r[3] for r in rows if r[0] == cmd_fmt)
    print(f"end to end: `microloop audit --json` on the {cmd_fmt} logs ({st} steps, process start "
          f"included): {t_cmd:.2f} s wall, {cpu_cmd:.2f} s CPU ({st / cpu_cmd:,.0f} steps per CPU "
          f"second)")


if __name__ == "__main__":
    main()
