# Harness, end to end on the virtual board: deploy with mpremote (resume) onto a blank board,
# replay every bundled trajectory over the pty and compare with CPython (verdict, hash, entry,
# rule of every step, and every `expect`); the device killed mid-replay (the report stays
# whole, --resume finishes the run without re-recording a step); a slow device (a clear
# error, exit 3); a wrong expectation (exit 1); the plot.
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from microloop_tools import cli, deploy, replay, vboard
from microloop_tools.paths import TRAJECTORIES_DIR

TRAJS = sorted(TRAJECTORIES_DIR.glob("*.jsonl"))


def read_report(path: Path) -> list[dict]:
    text = path.read_text()
    assert text.endswith("\n"), "report ends mid-line"
    return [json.loads(line) for line in text.splitlines()]  # every line parses


def step_keys(recs: list[dict]) -> list[tuple[str, int]]:
    return [(r["traj"], r["step"]) for r in recs if r["type"] == "step"]


def all_steps() -> int:
    return sum(len(replay.load_trajectory(p).steps) for p in TRAJS
               if not replay.load_trajectory(p).cpython_only)


@pytest.fixture
def blank_vb(tmp_path):
    b = vboard.VirtualBoard.from_board("unix", flash_dir=tmp_path / "flash")
    b.flash_dir.mkdir()
    b.start()
    yield b
    b.stop()


def test_bundled_trajectories_exist():
    assert len(TRAJS) >= 15


def test_deploy_with_mpremote_then_replay_everything_in_parity(blank_vb, tmp_path, capsys):
    t0 = time.monotonic()
    p = deploy.deploy("unix", blank_vb.port, out_root=tmp_path / "build")
    assert "resume" in p.argv and "reset" not in p.argv  # a soft reset would end the unix port
    assert time.monotonic() - t0 < 30
    flash = {x.relative_to(blank_vb.flash_dir).as_posix() for x in blank_vb.flash_dir.rglob("*")}
    assert {"main.py", "microloop_serve.mpy", "lib/microloop_mpy/guard.mpy",
            "microloop_policy.json"} <= flash
    report = tmp_path / "r.jsonl"
    plot = tmp_path / "t.png"
    rc = cli.main(["replay", "--board", "unix", "--port", blank_vb.port, "--report", str(report),
                   "--plot", str(plot), "--no-progress", "--timeout", "5"])
    out = capsys.readouterr().out
    assert rc == 0, out
    recs = read_report(report)
    steps = [r for r in recs if r["type"] == "step"]
    assert len(steps) == all_steps()
    calls = [r for r in steps if r["kind"] == "call"]
    assert calls and all(r["dev"] == r["cpy"] for r in calls)
    assert all(r["parity"] and r["expect_ok"] for r in steps)
    assert sum(1 for r in calls if r["dev"]["v"]) > 50  # the trajectories do block
    assert all(isinstance(r["us"], int) and 0 <= r["us"] < 100_000 for r in calls)
    done = {r["traj"] for r in recs if r["type"] == "traj_done"}
    assert done == {p.stem for p in TRAJS}
    assert "TOTAL" in out and "dev µs p50" in out and "parity" in out, out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def fault_at(monkeypatch, n: int, fault) -> None:
    """Calls fault() just before the device side runs its n-th step (deterministic)."""
    orig = replay.DeviceSide.step
    count = [0]

    def step(self, s):
        count[0] += 1
        if count[0] == n:
            fault()
        return orig(self, s)

    monkeypatch.setattr(replay.DeviceSide, "step", step)


def test_killed_device_keeps_the_report_and_resume_finishes(tmp_path, capsys, monkeypatch):
    board = cli._start_vboard("unix")
    port = board.start()
    report = tmp_path / "r.jsonl"
    argv = ["replay", "--board", "unix", "--port", port, "--report", str(report),
            "--no-progress", "--timeout", "1"]
    try:
        with monkeypatch.context() as m:
            fault_at(m, 150, board.kill)  # pull the plug mid-run, mid-trajectory
            assert cli.main(argv) == cli.EXIT_DEVICE
        err = capsys.readouterr().err
        assert "interrupted" in err and "--resume" in err and "no answer" in err
        recs = read_report(report)
        before = step_keys(recs)
        assert len(before) == 149 and len(set(before)) == len(before)
        assert recs[-1]["type"] == "error" and "no answer" in recs[-1]["message"]
        assert all(r["parity"] for r in recs if r["type"] == "step")
        cut = recs[-1]["traj"]
        assert cut not in {r["traj"] for r in recs if r["type"] == "traj_done"}

        board.hard_reset()  # power back on: a fresh device with an empty history
        assert cli.main(argv + ["--resume"]) == 0
        recs = read_report(report)
        after = step_keys(recs)
        assert after[: len(before)] == before  # nothing measured was lost or rewritten
        assert len(set(after)) == len(after) == all_steps()  # each step recorded once
        # the cut trajectory went on from its first missing step, in parity: the device got
        # its history back by replaying the recorded prefix unrecorded
        assert all(r["parity"] and r["expect_ok"] for r in recs if r["type"] == "step")
        assert [r["resumed"] for r in recs if r["type"] == "run"] == [False, True]
        out = capsys.readouterr().out
        assert "TOTAL" in out and "INCOMPLETE" not in out
    finally:
        board.stop()


def test_slow_device_fails_with_a_clear_timeout_and_resume_recovers(tmp_path, capsys,
                                                                    monkeypatch):
    board = cli._start_vboard("unix")
    port = board.start()
    report = tmp_path / "r.jsonl"
    argv = ["replay", str(TRAJS[0]), str(TRAJS[1]), str(TRAJS[2]), "--board", "unix", "--port",
            port, "--report", str(report), "--no-progress", "--timeout", "0.5"]
    try:
        with monkeypatch.context() as m:
            fault_at(m, 12, board.suspend)  # the device stops answering (SIGSTOP)
            t0 = time.monotonic()
            assert cli.main(argv) == cli.EXIT_DEVICE
            assert time.monotonic() - t0 < 5  # 0.5 s per answer, not a hang
        err = capsys.readouterr().err
        assert "no answer to" in err and "within 0.5s" in err and port in err
        board.resume()  # it was only slow: the same running device finishes the job
        assert cli.main(argv + ["--resume"]) == 0
        recs = read_report(report)
        assert len(set(step_keys(recs))) == len(step_keys(recs)) == sum(
            len(replay.load_trajectory(p).steps) for p in TRAJS[:3])
        assert {r["traj"] for r in recs if r["type"] == "traj_done"} == {p.stem for p in TRAJS[:3]}
    finally:
        board.resume()
        board.stop()


def test_wrong_expectation_exits_1_and_own_virtual_board(tmp_path, capsys):
    src = TRAJECTORIES_DIR / "core_relay_toggle.jsonl"
    lines = src.read_text().splitlines()
    d = json.loads(lines[1])
    d["expect"] = "block"  # the first call is allowed: this expectation is wrong
    lines[1] = json.dumps(d)
    bad = tmp_path / "wrong_expect.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    # no --port: the harness starts (and stops) its own virtual board
    rc = cli.main(["replay", str(bad), str(src), "--board", "unix", "--report",
                   str(tmp_path / "r.jsonl"), "--no-progress"])
    assert rc == cli.EXIT_MISMATCH
    recs = read_report(tmp_path / "r.jsonl")
    miss = [r for r in recs if r["type"] == "step" and not r["expect_ok"]]
    assert [(r["traj"], r["step"]) for r in miss] == [("wrong_expect", 0)]
    assert all(r["parity"] for r in recs if r["type"] == "step")  # parity itself holds
    assert "1 expectation misses" in capsys.readouterr().err


def test_summary_percentiles():
    assert replay.percentile([], 50) == 0
    assert replay.percentile([5], 99) == 5
    xs = list(range(1, 101))
    assert replay.percentile(xs, 50) == 50 and replay.percentile(xs, 99) == 99
    assert replay.percentile(xs, 100) == 100


def test_report_drops_a_torn_last_line_on_resume(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_text('{"type":"run"}\n{"type":"step","traj":"a","step":0,"parity":true}\n{"type":"st')
    r = replay.Report(p, resume=True)
    assert [x["type"] for x in r.records] == ["run", "step"]
    assert r.recorded_steps("a") == 1 and r.recorded_steps("b") == 0
    r.write({"type": "traj_done", "traj": "a"})
    r.close()
    assert read_report(p)[-1] == {"type": "traj_done", "traj": "a"}
