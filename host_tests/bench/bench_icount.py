"""Instructions per check() on CPython, counted by valgrind's callgrind (a report, never a
test): deterministic where wall-clock times on a shared 2-core machine are not. The guard
against the naive guard and the calls of _bench_worker.py (json.loads + json.dumps(sort_keys)
+ sha256 + a list scan), for fresh calls (every call new) and one call repeated. Each figure is the
difference of two runs (N and 3N checks) divided by 2N, so start-up cancels out.

Run: make bench   (or .venv/bin/python host_tests/bench/bench_icount.py [N]); prints a note
and exits 0 when valgrind is not installed.
"""
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKER = r'''
import sys
sys.path.insert(0, sys.argv[3])
sys.path.insert(0, sys.argv[3] + "/host_tests/bench")
from microloop_mpy import Guard
from _bench_worker import make_call, naive_guard
which, kind, N = sys.argv[1], sys.argv[2], int(sys.argv[4])
calls = [make_call(i if kind == "fresh" else 7) for i in range(N)]
if which == "naive":
    check = naive_guard().check
else:
    check = Guard({"history": 32, "loops": {"window": 16}}).check
for c in calls:
    check(c, 0, len(c))
'''


def instructions(which: str, kind: str, n: int, worker: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out",
             sys.executable, str(worker), which, kind, str(ROOT), str(n)],
            capture_output=True, text=True, check=True).stderr
    return int(re.search(r"Collected : (\d+)", out).group(1))


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    if shutil.which("valgrind") is None:
        print("bench_icount: valgrind is not installed (apt-get install valgrind); skipped")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        worker = Path(tmp) / "icount_worker.py"
        worker.write_text(WORKER)
        print(f"instructions per check (callgrind, CPython {sys.version.split()[0]}, "
              f"152-byte call, ({3 * n} - {n} checks) / {2 * n})")
        print(f"{'':20} {'guard':>10} {'naive':>10} {'naive/guard':>12}")
        for kind in ("fresh", "repeated"):
            per = {}
            for which in ("guard", "naive"):
                a = instructions(which, kind, n, worker)
                b = instructions(which, kind, 3 * n, worker)
                per[which] = (b - a) / (2 * n)
            print(f"{kind + ' calls':20} {per['guard']:>10,.0f} {per['naive']:>10,.0f} "
                  f"{per['naive'] / per['guard']:>11.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
