# `microloop audit` (microloop_host.audit): logs built here by hand in every format the audit
# reads -- a stuck run that must be stopped, a progressing run that must not, failures mapped
# to ok=False -- plus detection, several policies side by side, JSON Lines, the export
# replayed on CPython and on the virtual board, the plot, and bad files (one clear line
# naming the file and the line, never a traceback).
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from microloop_host.audit import audit_run, load_policies, read_runs
from microloop_host.audit.cli import main as audit_main
from microloop_host.audit.readers import FORMATS, Source, detect
from microloop_tools import cli

# (tool, args, result, ok) -- ok False: the tool itself failed (timed out, did not run)
Step = tuple[str, dict, str, bool]

STUCK: list[Step] = [("bash", {"command": "ls"}, "a.py b.py", True)] + [
    ("bash", {"command": "pytest -q"}, "FAILED test_a.py::test_x\n1 failed", True)] * 5
PROGRESS: list[Step] = []
for _i in range(12):
    PROGRESS.append(("edit", {"path": "a.py", "line": _i, "text": f"fix {_i}"}, "edited", True))
    PROGRESS.append(("bash", {"command": "pytest -q"},
                     "FAILED test_a.py::test_x\n1 failed" if _i < 11 else "1 passed", True))


def _dump(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text, encoding="utf-8")
    return p


def jsonl(objs: list) -> str:
    return "".join(json.dumps(o) + "\n" for o in objs)


# ---- one writer per format: steps -> the log text an agent system would have written ----------
def w_trajectory(steps: list[Step]) -> str:
    return jsonl([{"policy": {}, "name": "hand-made"}]
                 + [{"tool": t, "args": a, "ok": ok, "result": r} for t, a, r, ok in steps])


def w_openai(steps: list[Step]) -> str:
    msgs: list[dict] = [{"role": "system", "content": "You are an agent."},
                        {"role": "user", "content": "fix the tests"}]
    for i, (t, a, r, _ok) in enumerate(steps):
        msgs.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": f"call_{i}", "type": "function",
             "function": {"name": t, "arguments": json.dumps(a)}}]})
        msgs.append({"role": "tool", "tool_call_id": f"call_{i}", "content": r})
    return json.dumps({"model": "gpt-x", "messages": msgs}, indent=1)


def _swe_action(t: str, a: dict) -> str:
    return a["command"] if t == "bash" else f"{t} {a['path']} {a['line']}\n{a['text']}\nend_of_edit"


def w_swe(steps: list[Step]) -> str:
    traj = [{"action": _swe_action(t, a), "observation": r if ok else
             f"EXECUTION TIMED OUT BECAUSE THE COMMAND WAS RUNNING FOR MORE THAN 25 SECONDS ({r})",
             "thought": "hmm", "response": "hmm", "state": "{}"} for t, a, r, ok in steps]
    traj.append({"action": "", "observation": "Exited", "thought": "", "response": ""})
    return json.dumps({"environment": "swe_main", "trajectory": traj, "history": [],
                       "info": {"exit_status": "submitted"}}, indent=2)


def w_mini(steps: list[Step]) -> str:
    msgs = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Please solve this issue"}]
    for t, a, r, ok in steps:
        cmd = a["command"] if t == "bash" else f"sed -i '{a['line']}s/x/{a['text']}/' {a['path']}"
        msgs.append({"role": "assistant", "content": f"THOUGHT: go on.\n\n```bash\n{cmd}\n```"})
        obs = (f"<returncode>1</returncode>\n<output>\n{r}\n</output>" if ok else
               f"The last command <command>{cmd}</command> timed out and has been killed.\n"
               f"The output of the command was:\n<output>\n{r}\n</output>")
        msgs.append({"role": "user", "content": obs})
    msgs.append({"role": "assistant",
                 "content": "I am unsure.\n```bash\nls\n```\n```bash\npwd\n```"})
    msgs.append({"role": "user", "content": "Please always provide EXACTLY ONE action"})
    return json.dumps({"info": {"exit_status": "Submitted", "mini_version": "1.9.0"},
                       "messages": msgs, "trajectory_format": "mini-swe-agent-1"}, indent=2)


def _oh_history(steps: list[Step]) -> list[dict]:
    hist: list[dict] = [{"id": 0, "source": "user", "action": "message",
                         "args": {"content": "fix it"}, "timestamp": "2025-01-01T10:00:00"}]
    for i, (t, a, r, ok) in enumerate(steps):
        aid = len(hist)
        name = "run" if t == "bash" else "edit"
        hist.append({"id": aid, "source": "agent", "action": name,
                     "timestamp": f"2025-01-01T10:{i // 60:02d}:{i % 60:02d}",
                     "args": {**a, "thought": f"thinking step {i}", "security_risk": 0,
                              "confirmation_state": "confirmed"}})
        hist.append({"id": aid + 1, "source": "agent", "cause": aid, "observation": name,
                     "content": r, "extras": {"command": a.get("command", ""),
                                              "metadata": {"exit_code": 1 if ok else -1}}})
    hist.append({"id": len(hist), "source": "agent", "action": "finish", "args": {}})
    return hist


def w_openhands(steps: list[Step]) -> str:
    return jsonl([{"instance_id": "demo__repo-1", "history": _oh_history(steps),
                   "test_result": {"git_patch": ""}}])


def w_openhands_v1(steps: list[Step]) -> str:
    hist: list[dict] = [{"kind": "MessageEvent", "source": "user", "id": "m0"}]
    for i, (t, a, r, ok) in enumerate(steps):
        tool = "terminal" if t == "bash" else "file_editor"
        hist.append({"kind": "ActionEvent", "id": f"a{i}", "source": "agent", "tool_name": tool,
                     "tool_call_id": f"tc{i}", "thought": [{"type": "text", "text": f"t{i}"}],
                     "action": {"kind": "TerminalAction", **a}})
        hist.append({"kind": "ObservationEvent", "id": f"o{i}", "tool_name": tool,
                     "tool_call_id": f"tc{i}", "action_id": f"a{i}",
                     "observation": {"kind": "TerminalObservation", "is_error": False,
                                     "content": [{"type": "text", "text": r}],
                                     "timeout": not ok, "exit_code": 1 if ok else -1}})
    return json.dumps({"instance_id": "v1", "history": hist})


def w_mcp(steps: list[Step]) -> str:
    return jsonl([{"mcp": 1, "ts": 1700000000.0 + i, "id": i, "tool": t, "args": a,
                   "verdict": 0, "reason": "allowed", "ok": ok, "result": r}
                  for i, (t, a, r, ok) in enumerate(steps)])


WRITERS: dict[str, tuple[str, Callable[[list[Step]], str], str]] = {
    # key: (format the audit must detect, writer, file name)
    "trajectory": ("trajectory", w_trajectory, "run.jsonl"),
    "openai": ("openai", w_openai, "chat.json"),
    "swe-agent": ("swe-agent", w_swe, "run.traj"),
    "mini-swe-agent": ("mini-swe-agent", w_mini, "mini.traj.json"),
    "openhands": ("openhands", w_openhands, "output.jsonl"),
    "openhands-v1": ("openhands", w_openhands_v1, "v1.json"),
    "mcp": ("mcp", w_mcp, "mcp.log"),
}


def _audit(path: Path, policy: str = "default", fmt: str | None = None):
    spec = load_policies([policy])[0]
    return [audit_run(r, spec) for r in read_runs(path, fmt)]


@pytest.mark.parametrize("key", WRITERS)
def test_each_format_stuck_run_is_stopped_progress_is_not(key, tmp_path):
    fmt, write, name = WRITERS[key]
    stuck = _dump(tmp_path, "stuck-" + name, write(STUCK))
    good = _dump(tmp_path, "good-" + name, write(PROGRESS))
    assert detect(Source.read(stuck)) == fmt
    assert detect(Source.read(good)) == fmt
    [s] = _audit(stuck)
    assert s.run.fmt == fmt and s.steps == len(STUCK)
    # ls, then pytest with the same failure: the 3rd identical pytest (step 3) is blocked
    assert s.first_block == 3, s.verdicts
    assert s.blocked == 3 and s.saved == 3
    [g] = _audit(good)
    assert g.steps == len(PROGRESS) and g.first_block is None and g.blocked == 0


FAILING: list[Step] = [("bash", {"command": "make deploy"}, f"timeout after {n} s", False)
                       for n in (30, 31, 32, 33)]


@pytest.mark.parametrize("key", [k for k in WRITERS if k != "openai"])
def test_failures_reach_the_guard_as_ok_false(key, tmp_path):
    # the same call failing with a different text each time: only the errors detector (which
    # needs ok=False) can stop it, at the 3rd failure
    _fmt, write, name = WRITERS[key]
    [r] = _audit(_dump(tmp_path, name, write(FAILING)))
    from microloop_mpy import codes

    assert r.first_block == 3 and r.verdicts[3] == codes.ERROR_LOOP, r.verdicts


def test_openai_has_no_failure_flag(tmp_path):
    [r] = _audit(_dump(tmp_path, "c.json", w_openai(FAILING)))
    assert r.blocked == 0  # every tool message is ok=True: the texts differ, nothing repeats


def test_openai_parallel_calls_are_reported_by_id_and_jsonl_runs(tmp_path):
    def turn(i: int) -> list[dict]:
        return [{"role": "assistant", "tool_calls": [
                    {"id": f"a{i}", "function": {"name": "get_status", "arguments": "{}"}},
                    {"id": f"b{i}", "function": {"name": "tail_log", "arguments": '{"n": 1}'}}]},
                {"role": "tool", "tool_call_id": f"b{i}", "content": f"log line {i}"},
                {"role": "tool", "tool_call_id": f"a{i}", "content": "status: down"}]
    msgs = [{"role": "user", "content": "watch it"}] + [m for i in range(5) for m in turn(i)]
    p = _dump(tmp_path, "runs.jsonl", jsonl([{"messages": msgs}, {"messages": msgs[:5]}]))
    r1, r2 = _audit(p)
    assert r1.run.name.endswith(":1") and r2.run.name.endswith(":2")
    # the unchanged get_status repeats (the log tail changes: new data, not a loop)
    assert r1.first_block is not None and r1.first_block % 2 == 0
    assert all(r1.verdicts[i] == 0 for i in range(1, 10, 2))
    assert r2.steps == 4 and r2.blocked == 0
    # one message a line is one run
    q = _dump(tmp_path, "msgs.jsonl", jsonl(msgs))
    [r3] = _audit(q)
    assert r3.verdicts == r1.verdicts


def test_swe_agent_special_commands_are_their_own_tools(tmp_path):
    traj = [{"action": "open src/a.py 40\n", "observation": "[File: a.py]"},
            {"action": "scroll_down\n", "observation": "(more)"},
            {"action": "edit 1:2\nx = 1\nend_of_edit\n", "observation": "File updated."},
            {"action": "python -m pytest -q\n", "observation": "1 passed"},
            {"action": "submit\n", "observation": None}]
    p = _dump(tmp_path, "a.traj", json.dumps({"trajectory": traj}))
    [run] = read_runs(p)
    calls = run.calls()
    assert [c.tool for c in calls] == ["open", "scroll_down", "edit", "bash", "submit"]
    assert json.loads(calls[0].call) == {"tool": "open", "args": {"args": "src/a.py 40"}}
    assert json.loads(calls[2].call)["args"] == {"args": "1:2\nx = 1\nend_of_edit"}
    assert json.loads(calls[3].call) == {"tool": "bash", "args": {"command": "python -m pytest -q"}}
    assert calls[4].ok is None  # no observation: nothing reported


def test_openhands_thoughts_are_not_part_of_the_call(tmp_path):
    # each action carries a new "thought": the call is still the same call
    [r] = _audit(_dump(tmp_path, "o.jsonl", w_openhands(STUCK)))
    calls = r.run.calls()
    assert b"thought" not in calls[1].call and b"security_risk" not in calls[1].call
    assert calls[1].t_ms == 1000 and calls[0].t_ms == 0  # timestamps become the clock
    assert r.run.name.endswith("(demo__repo-1)")


def test_mini_swe_agent_format_errors_run_nothing(tmp_path):
    [run] = read_runs(_dump(tmp_path, "m.json", w_mini(STUCK)))
    assert run.n_calls == len(STUCK)  # the reply with two blocks was not executed
    assert b"<returncode>1</returncode>" in run.calls()[0].result  # non-zero exit: ran, ok
    assert run.calls()[0].ok is True


def test_trajectory_reports_restarts_and_raw_steps(tmp_path):
    src = Path(__file__).parent / "trajectories"
    for f in ("core_parallel_reports.jsonl", "core_restart_fresh_history.jsonl",
              "rules_escape_bypass.jsonl"):
        [r] = _audit(src / f)
        assert r.steps > 0
    # the bundled trajectories replayed with their own policy give their own expectations
    from microloop_mpy.trajectory import Replay

    for f in sorted(src.glob("core_*.jsonl")):
        lines = [ln for ln in f.read_bytes().split(b"\n") if ln.strip()]
        policy = json.loads(lines[0])["policy"]
        pol = tmp_path / (f.stem + ".policy.json")
        pol.write_text(json.dumps(policy))
        [r] = _audit(f, policy=str(pol))
        rp = Replay(policy)
        got = [json.loads(rp.step(i, ln)) for i, ln in enumerate(lines[1:])]
        want = [g["verdict"] for g in got if g["kind"] == "call"]
        assert r.verdicts == want, f.name


def test_mcp_blocked_calls_have_no_outcome(tmp_path):
    recs = [{"mcp": 1, "ts": 1.0, "id": 1, "tool": "fetch", "args": {"url": "u"}, "verdict": 0,
             "reason": "allowed", "ok": True, "result": "page"},
            {"mcp": 1, "ts": 2.5, "id": 2, "tool": "fetch", "args": {"url": "u"}, "verdict": 1,
             "reason": "identical", "ok": None, "result": None}]
    [run] = read_runs(_dump(tmp_path, "m.log", jsonl(recs)))
    a, b = run.calls()
    assert a.ok is True and a.result == b"page" and b.ok is None and b.t_ms == 1500


# ---- the command ------------------------------------------------------------------------------
def _logs(tmp_path: Path) -> list[str]:
    out = []
    for key, (_fmt, write, name) in WRITERS.items():
        out.append(str(_dump(tmp_path, f"stuck-{key}-{name}", write(STUCK))))
        out.append(str(_dump(tmp_path, f"good-{key}-{name}", write(PROGRESS))))
    return out


def test_cli_text_policies_side_by_side(tmp_path, capsys):
    logs = _logs(tmp_path)
    assert cli.main(["audit", "--policy", "default", "--policy", "strict", "--policy", "lenient",
                     *logs]) == 0
    out = capsys.readouterr().out
    n = len(WRITERS)
    assert f"summary: {2 * n} files, {2 * n} runs" in out
    # default: 3rd identical pytest; strict (identical 2): the 2nd; lenient (identical 5): 5th
    assert out.count("default  first block at step 3: IDENTICAL") == n
    assert out.count("strict   first block at step 2: IDENTICAL") == n
    assert out.count("lenient  first block at step 5: IDENTICAL") == n
    assert "[BLOCKED IDENTICAL]" in out and '> ' in out and 'bash {"command": "pytest -q"}' in out
    table = out[out.index("summary:"):]
    assert "upper bound" in table and "replayed as recorded" in table

    def row(label: str) -> list[str]:  # the first row with that label
        ln = next(ln for ln in table.splitlines() if ln.startswith(label))
        return ln[len(label):].split()

    assert table.splitlines()[1].split() == ["default", "strict", "lenient"]
    assert row("runs stopped") == [str(n), "/", str(2 * n)] * 3
    assert row("blocked steps (upper bound)") == [str(3 * n), str(4 * n), str(1 * n)]
    assert row("steps saved (upper bound)") == [str(3 * n), str(4 * n), str(1 * n)]
    assert row("  IDENTICAL") == [str(n)] * 3  # first blocks by detector
    assert "blocked steps by detector:" in table


def test_cli_json_lines(tmp_path, capsys):
    logs = _logs(tmp_path)
    assert audit_main(["--json", "--policy", "default", "--policy", "strict", *logs]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 * len(WRITERS)
    for ln in lines:
        d = json.loads(ln)
        assert {"file", "steps", "blocked", "first_block"} <= set(d)
        assert [p["policy"] for p in d["policies"]] == ["default", "strict"]
        if "/stuck-" in d["file"]:
            assert (d["steps"], d["blocked"], d["first_block"], d["detector"]) == (6, 3, 3,
                                                                                 "IDENTICAL")
            assert d["policies"][1]["first_block"] == 2 and d["blocked_steps"] == [3, 4, 5]
        else:
            assert (d["blocked"], d["first_block"]) == (0, None)


def test_cli_format_forced_and_wrong(tmp_path, capsys):
    p = _dump(tmp_path, "x.json", w_openai(STUCK))
    assert audit_main(["--json", "--format", "openai", str(p)]) == 0
    assert json.loads(capsys.readouterr().out)["first_block"] == 3
    assert audit_main(["--format", "swe-agent", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(p) in err and "trajectory" in err


def test_export_replays_on_cpython_with_the_audit_verdicts(tmp_path, capsys):
    (tmp_path / "logs").mkdir()
    logs = _logs(tmp_path / "logs")
    out = tmp_path / "exported"
    assert audit_main(["--export", str(out), "--policy", "strict", *logs]) == 0
    files = sorted(out.glob("*.jsonl"))
    assert len(files) == len(logs)
    from microloop_mpy.trajectory import replay_lines

    blocked = 0
    for f in files:
        got: list[str] = []
        assert replay_lines(f.read_bytes().split(b"\n"), got.append) == 0, f.name  # all expects
        blocked += sum(1 for g in got if '"verdict": 0' not in g and '"kind": "call"' in g)
        head = json.loads(f.read_text().splitlines()[0])
        assert head["policy"]["loops"]["identical"] == 2  # the strict preset travels along
    assert blocked == 4 * len(WRITERS)


def test_export_keeps_hostile_calls_byte_for_byte(tmp_path, capsys):
    # duplicate keys and escapes in the model's argument text reach the guard as written
    msgs = [{"role": "assistant", "tool_calls": [{"id": "1", "function": {
        "name": "shell", "arguments": '{"cmd": "ls",\n "cmd": "rm -rf /"}'}}]},
            {"role": "tool", "tool_call_id": "1", "content": "x"},
            {"role": "assistant", "tool_calls": [{"id": "2", "function": {
                "name": "shell", "arguments": "not json"}}]}]
    p = _dump(tmp_path, "h.json", json.dumps({"messages": msgs}))
    [r] = _audit(p)
    from microloop_mpy import codes

    assert r.verdicts == [codes.DUPLICATE_KEY, codes.BAD_ARGS]
    assert audit_main(["--export", str(tmp_path / "e"), str(p)]) == 0
    [f] = list((tmp_path / "e").glob("*.jsonl"))
    from microloop_mpy.trajectory import replay_lines

    got: list[str] = []
    assert replay_lines(f.read_bytes().split(b"\n"), got.append) == 0
    assert [json.loads(g)["verdict"] for g in got[:2]] == r.verdicts


def test_export_round_trip_on_the_virtual_board(tmp_path, capsys):
    (tmp_path / "logs").mkdir()
    logs = _logs(tmp_path / "logs")
    out = tmp_path / "exported"
    assert audit_main(["--export", str(out), *logs]) == 0
    capsys.readouterr()
    report = tmp_path / "replay.jsonl"
    rc = cli.main(["replay", str(out), "--board", "unix", "--report", str(report),
                   "--no-progress"])
    res = capsys.readouterr()
    assert rc == 0, res.out + res.err
    recs = [json.loads(ln) for ln in report.read_text().splitlines()]
    steps = [r for r in recs if r.get("type") == "step" and r.get("kind") == "call"]
    want = sum(len(STUCK) + len(PROGRESS) for _ in WRITERS)
    assert len(steps) == want
    assert all(r["parity"] and r["expect_ok"] for r in steps)
    assert sum(1 for r in steps if r["dev"]["v"]) == 3 * len(WRITERS)


def test_plot_png(tmp_path, capsys):
    logs = _logs(tmp_path)
    png = tmp_path / "audit.png"
    assert audit_main(["--plot", str(png), "--policy", "default", "--policy", "strict",
                       *logs]) == 0
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert f"plot: {png}" in capsys.readouterr().out


def test_plot_without_matplotlib_is_one_line(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    p = _dump(tmp_path, "a.jsonl", w_trajectory(STUCK))
    assert audit_main(["--plot", str(tmp_path / "x.png"), str(p)]) == 2
    err = capsys.readouterr().err
    assert err == 'microloop audit --plot needs: pip install "microloop-mpy[harness]"\n'


# ---- bad input: one line naming the file and the line, exit 2, never a traceback --------------
def _bad_cases(tmp: Path) -> list[tuple[Path, str]]:
    """(file, text the one error line must contain)."""
    cases = []
    t = w_trajectory(STUCK)
    cut = t[: t.index("\n", t.index("\n", t.index("\n") + 1) + 1) + 30]  # mid-line 4
    cases.append((_dump(tmp, "cut.jsonl", cut), ":4: truncated JSON"))
    lines = t.splitlines()
    lines[2] = lines[2].replace('"args":', '"args"')
    cases.append((_dump(tmp, "bad.jsonl", "\n".join(lines)), ":3: malformed JSON"))
    s = w_swe(STUCK)
    cases.append((_dump(tmp, "cut.traj", s[: len(s) // 2]), "truncated JSON"))
    cases.append((_dump(tmp, "cut.json", w_openai(STUCK)[:-40]), "truncated JSON"))
    m = w_mcp(STUCK).splitlines()
    cases.append((_dump(tmp, "cut.log", "\n".join(m[:3] + [m[3][:25]])), ":4: truncated JSON"))
    cases.append((_dump(tmp, "tool.log", "\n".join(m[:2] + [m[2].replace('"tool": "bash"',
                                                                          '"tool": 7')])),
                  ':3: "tool" must be a string'))
    o = w_openhands(STUCK) + '{"instance_id": "x", "history": [{"action": "run", "args": '
    cases.append((_dump(tmp, "oh.jsonl", o), ":2: truncated JSON"))
    cases.append((_dump(tmp, "swe.traj", json.dumps({"trajectory": [{"action": 3}]})),
                  "trajectory[0].action: action must be a string"))
    cases.append((_dump(tmp, "what.json", '{"hello": 1}'), ":1: unknown log format"))
    cases.append((_dump(tmp, "empty.jsonl", "\n\n"), "empty file"))
    (tmp / "bin.jsonl").write_bytes(b'{"tool": "a"}\n\xff\xfe')
    cases.append((tmp / "bin.jsonl", ":2: not UTF-8 text"))
    cases.append((_dump(tmp, "msg.jsonl", '{"role": "user", "content": "x"}\n[1, 2]\n'),
                  ":2: a message must be an object"))
    cases.append((tmp / "missing.jsonl", "cannot read"))
    mini = w_mini(STUCK)
    cases.append((_dump(tmp, "cut-mini.json", mini[: len(mini) * 2 // 3]), "truncated JSON"))
    cases.append((_dump(tmp, "mini-bad.json", json.dumps(
        {"trajectory_format": "mini-swe-agent-1", "messages": [{"role": "user"}, "hi"]})),
        ":1: messages[1]: a message must be an object with a string role"))
    v1 = json.loads(w_openhands_v1(STUCK))
    del v1["history"][3]["tool_name"]
    cases.append((_dump(tmp, "v1-bad.json", json.dumps(v1, indent=1)),
                  "history[3]: tool_name must be a string"))
    return cases


def test_bad_files_get_one_clear_line(tmp_path, capsys):
    for path, want in _bad_cases(tmp_path):
        rc = audit_main([str(path)])
        res = capsys.readouterr()
        assert rc == 2, path
        assert res.out == "", path
        assert res.err.count("\n") == 1 and "Traceback" not in res.err, res.err
        assert res.err.startswith(f"microloop audit: {path}"), res.err
        assert want in res.err, res.err


def test_skip_bad_goes_on(tmp_path, capsys):
    good = _dump(tmp_path, "good.jsonl", w_trajectory(STUCK))
    bad = _dump(tmp_path, "bad.jsonl", w_trajectory(STUCK)[:-20])
    assert audit_main(["--skip-bad", "--json", str(bad), str(good)]) == 0
    res = capsys.readouterr()
    assert json.loads(res.out)["file"] == str(good)
    assert res.err.startswith(f"microloop audit: {bad}:7: truncated JSON")


def test_bad_policy_is_one_line(tmp_path, capsys):
    p = _dump(tmp_path, "a.jsonl", w_trajectory(STUCK))
    pol = _dump(tmp_path, "p.json", '{"loops": {"identical": 1}}')
    assert audit_main(["--policy", str(pol), str(p)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"policy {pol}" in err and "identical" in err
    assert audit_main(["--policy", "nope", str(p)]) == 2
    assert "not a preset" in capsys.readouterr().err


def test_directory_of_logs(tmp_path, capsys):
    _logs(tmp_path)
    assert audit_main(["--json", str(tmp_path)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2 * len(WRITERS)


def test_every_format_has_a_reader():
    assert set(FORMATS) == {"trajectory", "openai", "swe-agent", "mini-swe-agent", "openhands",
                            "mcp"}


def test_trajectory_fast_reader_equals_the_cores(tmp_path):
    # the audit reads trajectory lines with the json module's scanner; every bundled line and
    # a few hostile ones give exactly the bytes microloop_mpy.trajectory.call_bytes gives
    from microloop_host.audit.readers.trajectory import _members
    from microloop_mpy.trajectory import call_bytes

    lines = [ln.strip() for f in sorted((Path(__file__).parent / "trajectories").glob("*.jsonl"))
             for ln in f.read_bytes().split(b"\n") if ln.strip()]
    lines += [b'{"\\u0074ool": "a", "args": {"x": 1}, "tool": "b"}',
              b'{ "result" : "tool\\"args" , "args":{"k":[1,{"a":null}]} ,"tool":"t","id":7}',
              b'{"tool": "\\ud83d\\ude00", "args": {"\xc3\xa9": "\\n"}, "ok": true}',
              b'{"report": 3, "ok": false}', b'{"restart": true}']
    assert len(lines) > 500
    for ln in lines:
        assert _members(ln.decode("utf-8")) == call_bytes(ln), ln


def test_rules_are_named_with_their_index(tmp_path, capsys):
    pol = _dump(tmp_path, "no-rm.json", json.dumps({"rules": [
        {"action": "block", "tool": "bash", "arg": "command", "prefix": "rm -rf"},
        {"tool": "bash", "count": 3}]}))
    steps: list[Step] = [("bash", {"command": "ls"}, "a", True),
                         ("bash", {"command": "rm -rf build"}, "", True),
                         ("bash", {"command": "make"}, "ok", True),
                         ("bash", {"command": "make test"}, "ok", True),
                         ("bash", {"command": "make dist"}, "ok", True)]
    p = _dump(tmp_path, "r.jsonl", w_mcp(steps))
    assert audit_main(["--context", "3", "--policy", str(pol), str(p)]) == 0
    out = capsys.readouterr().out
    assert "no-rm  first block at step 1: RULE_BLOCK #0 (blocked by a policy rule)" in out
    assert "[BLOCKED BUDGET_EXHAUSTED #1]" in out
    assert audit_main(["--json", "--policy", str(pol), str(p)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["policy"], d["first_block"], d["detector"], d["rule_index"]) == ("no-rm", 1,
                                                                                "RULE_BLOCK", 0)
    assert d["blocked_steps"] == [1, 4]
    assert d["by_detector"] == {"RULE_BLOCK": 1, "BUDGET_EXHAUSTED": 1}


def test_json_lines_forced_as_a_document_format(tmp_path, capsys):
    p = _dump(tmp_path, "m.jsonl", w_mcp(STUCK))
    assert audit_main(["--format", "swe-agent", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"microloop audit: {p}:2: a second JSON value") and err.count("\n") == 1


def test_openhands_model_calls_flat_events_and_pairs(tmp_path):
    # V0 action with tool_call_metadata: the model's own call (function name + argument text)
    def meta(i: int, args: str) -> dict:
        return {"function_name": "str_replace_editor", "tool_call_id": f"t{i}",
                "model_response": {"choices": [{"message": {"tool_calls": [
                    {"id": "other", "function": {"name": "x", "arguments": "{}"}},
                    {"id": f"t{i}", "function": {"name": "str_replace_editor",
                                                 "arguments": args}}]}}]}}
    view = '{"command": "view", "path": "/w/a.py"}'
    hist = []
    for i in range(4):
        hist.append({"id": 2 * i + 1, "source": "agent", "action": "read", "args": {
            "path": "/w/a.py", "thought": f"look {i}", "impl_source": "oh_aci"},
            "tool_call_metadata": meta(i, view)})
        hist.append({"id": 2 * i + 2, "source": "agent", "cause": 2 * i + 1,
                     "observation": "read", "content": "1|x = 1", "extras": {"path": "/w/a.py"}})
    [r] = _audit(_dump(tmp_path, "meta.json", json.dumps(hist)))
    assert r.run.calls()[0].call == b'{"tool":"str_replace_editor","args":' + view.encode() + b"}"
    assert r.first_block == 2 and r.run.calls()[0].result == b"1|x = 1"
    # older flat events: args beside "action", observations answer the latest call
    flat = [{"action": "message", "content": "fix it"}]
    for i in range(4):
        flat.append({"action": "run", "command": "make", "thought": f"try {i}",
                     "keep_prompt": True, "is_confirmed": "confirmed", "action_risk": None})
        flat.append({"observation": "run", "content": "make: *** Error 2", "command": "make",
                     "command_id": -1, "exit_code": 2})
    [f] = _audit(_dump(tmp_path, "flat.jsonl", jsonl([{"history": flat}])))
    assert json.loads(f.run.calls()[0].call) == {"tool": "run", "args": {"command": "make"}}
    assert f.run.calls()[0].result == b"make: *** Error 2\n[exit code 2]"
    assert f.first_block == 2
    # [action, observation] pairs
    pairs = [[flat[1 + 2 * i], flat[2 + 2 * i]] for i in range(4)]
    [p] = _audit(_dump(tmp_path, "pairs.jsonl", jsonl([{"history": pairs}])))
    assert p.verdicts == f.verdicts and p.run.calls()[3].ok is True


def test_swe_agent_history_only_traj(tmp_path):
    # some .traj files (demonstrations) have only the message history, no "trajectory"
    hist = [{"role": "system", "content": "SETTING: ...", "message_type": "system_prompt"},
            {"role": "user", "content": "the issue", "message_type": "observation"}]
    for _ in range(4):
        hist += [{"role": "assistant", "content": "let me look", "thought": "look",
                  "action": "open \"tests/a.py\"", "message_type": "action"},
                 {"role": "tool", "content": "[File: tests/a.py (3 lines total)]",
                  "message_type": "observation"}]
    p = _dump(tmp_path, "demo.traj", json.dumps({"history": hist}))
    assert detect(Source.read(p)) == "swe-agent"
    [r] = _audit(p)
    assert json.loads(r.run.calls()[0].call) == {"tool": "open", "args": {"args": '"tests/a.py"'}}
    assert r.steps == 4 and r.first_block == 2
    assert r.run.calls()[0].result == b"[File: tests/a.py (3 lines total)]"


def test_mini_swe_agent_tool_call_mode(tmp_path):
    # mini-swe-agent 2 with tool calls: like openai, plus its failure markers
    msgs = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "solve it"}]
    for i in range(4):
        msgs.append({"role": "assistant", "content": "", "tool_calls": [
            {"id": f"c{i}", "type": "function",
             "function": {"name": "bash", "arguments": '{"command": "pip install -e ."}'}}]})
        msgs.append({"role": "tool", "tool_call_id": f"c{i}",
                     "content": f"<returncode>-1</returncode>\n<output>\nbuilding {i}\n</output>",
                     "extra": {"exception_info": "TimeoutExpired: 60 s", "returncode": -1}})
    p = _dump(tmp_path, "mini2.traj.json", json.dumps(
        {"info": {"mini_version": "2.1.0"}, "messages": msgs,
         "trajectory_format": "mini-swe-agent-1.1"}))
    assert detect(Source.read(p)) == "mini-swe-agent"
    [r] = _audit(p)
    from microloop_mpy import codes

    assert [c.ok for c in r.run.calls()] == [False] * 4
    assert r.first_block == 3 and r.verdicts[3] == codes.ERROR_LOOP
    # the same messages without mini-swe-agent's markers read as an OpenAI transcript: ok=True
    q = _dump(tmp_path, "plain.json", json.dumps({"messages": msgs}))
    assert detect(Source.read(q)) == "openai"
    [o] = _audit(q)
    assert all(c.ok for c in o.run.calls()) and o.blocked == 0
