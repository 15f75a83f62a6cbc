# Allocation-freedom, proven: every bundled trajectory and a 20-rule policy replayed with
# micropython.heap_lock() held around each check() and outcome(), on the 64-bit unix port and
# the 32-bit wasm port (where ints >= 2**30 are heap objects). Any allocation raises
# MemoryError inside the locked call; the driver counts those and the guard's own internal
# errors, and the verdicts must equal CPython's (which runs the same driver unlocked).
from concurrent.futures import ThreadPoolExecutor

import pytest

from runtimes import ROOT, run_mp

DRIVER = ROOT / "host_tests" / "mp_locked_replay.py"
FILES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "host_tests" / "trajectories").glob("*.jsonl"))


@pytest.fixture(scope="module")
def outputs():
    with ThreadPoolExecutor(3) as pool:
        jobs = {rt: pool.submit(run_mp, rt, DRIVER, FILES, 600) for rt in ("cpython", "unix", "wasm")}
        return {rt: job.result().splitlines() for rt, job in jobs.items()}


@pytest.mark.parametrize("runtime", ["unix", "wasm"])
def test_check_and_outcome_never_allocate(outputs, runtime):
    last = outputs[runtime][-1]
    assert last == "FAILS 0 0", last


@pytest.mark.parametrize("runtime", ["unix", "wasm"])
def test_locked_verdicts_equal_cpython(outputs, runtime):
    assert outputs[runtime] == outputs["cpython"]


def test_the_locked_run_covered_blocks_and_rules(outputs):
    lines = outputs["cpython"]
    rules = [x for x in lines if x.startswith("RULES20")][0].split()[1:]
    codes = {int(x.split(":")[0]) for x in rules}
    assert {0, 7, 8} <= codes  # allowed, RULE_BLOCK and BUDGET_EXHAUSTED all occurred
    calls = [x for x in lines if '"kind": "call"' in x]
    assert len(calls) > 300
    assert any('"verdict": 0' in x for x in calls) and any('"verdict": 1,' in x for x in calls)


def test_the_long_stream_wrapped_the_ring_and_tripped_detectors(outputs):
    line = [x for x in outputs["cpython"] if x.startswith("LONG")][0].split()
    counts = [int(x) for x in line[2:]]
    assert sum(counts) == 4000
    assert counts[0] > 500  # allowed calls
    assert sum(1 for c in counts[1:7] if c) >= 3  # several loop detectors fired


def test_heap_lock_catches_an_allocation_on_wasm():
    # the proof means something only if the lock really bites on this port
    out = run_mp("wasm", "import micropython\na = 2**29\nr = 0\nmicropython.heap_lock()\n"
                 "try:\n    b = a + a\nexcept MemoryError:\n    r = 1\nmicropython.heap_unlock()\n"
                 "print(r)\n", timeout=60)
    assert out.strip() == "1"
