# Parity: every bundled trajectory replays to the same output lines on CPython, the MicroPython
# unix port (64-bit) and the MicroPython wasm port (32-bit), with zero `expect` mismatches.
# Contract of microloop_mpy.trajectory.main(path, state_dir): one JSON line per step, then
# {"done": <steps>, "mismatches": <n>}; on MicroPython only, a trajectory it cannot run prints
# a single line starting with "SKIP ".
# Fast: one interpreter process per runtime replays all files (the three run concurrently);
# the driver prints a marker line before each file so the output can be split per file.
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from runtimes import MP_RUNTIMES, ROOT, RUNTIMES, RunFailed, RuntimeMissing, run_mp

TRAJ_DIR = ROOT / "host_tests" / "trajectories"
FILES = sorted(TRAJ_DIR.glob("*.jsonl"))
MARK = "#microloop-parity-file#"
TIMEOUT = 300.0

# argv: state_root, then trajectory paths relative to the repo root (every runtime's cwd).
DRIVER = """
import sys, os
from microloop_mpy.trajectory import main

MARK = %r

def makedirs(path):
    cur = ""
    for part in path.split("/"):
        if part:
            cur += "/" + part
            try:
                os.mkdir(cur)
            except OSError:
                pass

def show(e):
    if sys.implementation.name == "micropython":
        sys.print_exception(e, sys.stdout)
    else:
        import traceback
        traceback.print_exception(e, file=sys.stdout)

state_root = sys.argv[1]
for path in sys.argv[2:]:
    name = path.rsplit("/", 1)[-1][:-len(".jsonl")]
    print(MARK, name)
    state_dir = state_root + "/" + name
    makedirs(state_dir)
    try:
        main(path, state_dir)
    except Exception as e:
        print(MARK, "ERROR")
        show(e)
""" % MARK


def _split(out: str) -> dict[str, list[str]]:
    per_file: dict[str, list[str]] = {}
    lines = None
    for line in out.splitlines():
        if line.startswith(MARK + " ") and line != MARK + " ERROR":
            lines = per_file.setdefault(line[len(MARK) + 1:], [])
        elif lines is None:
            raise AssertionError(f"output before the first file marker: {line!r}")
        else:
            lines.append(line)
    return per_file


@pytest.fixture(scope="module")
def replays(tmp_path_factory):
    """runtime -> {file stem: output lines}, or the exception that run raised."""
    paths = [str(p.relative_to(ROOT)) for p in FILES]

    if not paths:
        return {}
    # Fresh state directory per runtime (budgets persist in state_path files), made here in
    # the main thread (tmp_path_factory is not thread-safe). /tmp exists in the wasm port's
    # in-memory file system too; the driver creates the rest there.
    state = {rt: tmp_path_factory.mktemp(f"parity-state-{rt}") for rt in RUNTIMES}

    def replay(runtime):
        try:
            return _split(run_mp(runtime, DRIVER, [str(state[runtime]), *paths], timeout=TIMEOUT))
        except (RunFailed, RuntimeMissing, AssertionError) as e:
            return e

    with ThreadPoolExecutor(len(RUNTIMES)) as pool:
        return dict(zip(RUNTIMES, pool.map(replay, RUNTIMES)))


def _output(replays, runtime: str, stem: str) -> list[str]:
    result = replays[runtime]
    if isinstance(result, Exception):
        pytest.fail(f"replay on {runtime} failed:\n{result}", pytrace=False)
    assert stem in result, f"{runtime}: no output for {stem}"
    lines = result[stem]
    if MARK + " ERROR" in lines:
        pytest.fail(f"{runtime}: {stem} raised:\n" + "\n".join(lines), pytrace=False)
    return lines


def _mismatched(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        try:
            step = json.loads(line)
        except ValueError:
            continue
        if isinstance(step, dict) and step.get("match") is False:
            out.append(line)
    return out


@pytest.mark.parametrize("path", FILES or [None], ids=[p.stem for p in FILES] or ["no-trajectories"])
def test_trajectory_parity(path: Path | None, replays):
    assert path is not None, f"no trajectories found in {TRAJ_DIR}"
    stem = path.stem
    cp = _output(replays, "cpython", stem)
    assert cp, f"cpython printed nothing for {stem}"
    assert not cp[0].startswith("SKIP"), f"cpython must run every trajectory: {cp[0]}"
    final = json.loads(cp[-1])
    assert set(final) == {"done", "mismatches"}, f"last line is not the summary: {cp[-1]}"
    assert final["mismatches"] == 0, "expectation mismatches on cpython:\n" + "\n".join(
        _mismatched(cp))
    for runtime in MP_RUNTIMES:
        mp = _output(replays, runtime, stem)
        if mp and mp[0].startswith("SKIP "):
            assert len(mp) == 1, f"{runtime}: a SKIP must be the only line, got {mp}"
            continue
        assert mp == cp, f"{runtime} differs from cpython on {stem}"
