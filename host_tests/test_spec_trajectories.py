"""The bundled trajectories are well-formed (issue 7 "Trajectories and parity") and every
`expect` in them agrees with the spec model (test_spec_model.py).

Format, per issue 7: optional first line {"policy": {...}, "name": "..."}; call steps
{"tool", "args", ["id"], ["ok"], ["result"], ["t_ms"], "expect"}; report steps
{"report": K, ["ok"], ["result"], ["t_ms"]}; restart steps {"restart": true, ["t_ms"]}.
Here every call step must carry `expect` (our own rule for the bundled files).
"""
import glob
import importlib.util
import json
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TRAJ_DIR = os.path.join(HERE, "trajectories")
FILES = sorted(glob.glob(os.path.join(TRAJ_DIR, "*.jsonl")))
CORE = [f for f in FILES if os.path.basename(f).startswith("core_")]
RULES = [f for f in FILES if os.path.basename(f).startswith("rules_")]


def _model():
    spec = importlib.util.spec_from_file_location(
        "spec_model_for_traj", os.path.join(HERE, "test_spec_model.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


MODEL = _model()

CALL_KEYS = {"tool", "args", "id", "ok", "result", "t_ms", "expect"}
REPORT_KEYS = {"report", "ok", "result", "t_ms"}
RESTART_KEYS = {"restart", "t_ms"}
HEADER_KEYS = {"policy", "name"}


def _ids(files):
    return [os.path.basename(f) for f in files]


def test_counts():
    assert len(CORE) >= 15, _ids(CORE)
    assert len(RULES) >= 10, _ids(RULES)
    assert set(FILES) == set(CORE) | set(RULES), "every trajectory is core_* or rules_*"


def _t_ok(v):
    return type(v) is int and 0 <= v <= 2 ** 29


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_well_formed(path):
    with open(path, "rb") as f:
        data = f.read()
    data.decode("utf-8")  # strict UTF-8
    assert data.endswith(b"\n"), "JSONL: every line ends with a newline"
    lines = data.decode("utf-8").split("\n")[:-1]
    assert lines, "empty trajectory"
    n_calls = 0
    has_state = False
    last_t = 0
    for i, ln in enumerate(lines):
        assert ln.strip(), "line %d: blank line" % (i + 1)
        assert "\n" not in ln and "\r" not in ln
        obj = json.loads(ln)
        assert isinstance(obj, dict), "line %d: not an object" % (i + 1)
        where = "line %d" % (i + 1)
        if i == 0 and "policy" in obj:
            assert set(obj) <= HEADER_KEYS, where
            assert isinstance(obj["policy"], dict), where
            assert isinstance(obj.get("name", ""), str) and obj.get("name"), where + ": name"
            has_state = "state_path" in obj["policy"]
            if has_state:
                sp = obj["policy"]["state_path"]
                assert isinstance(sp, str) and sp and "/" not in sp, \
                    where + ": state_path must be a relative file name"
            continue
        if "t_ms" in obj:
            assert _t_ok(obj["t_ms"]), where + ": t_ms is an int in 0..2**29"
            assert obj["t_ms"] >= last_t, where + ": time never goes back"
            last_t = obj["t_ms"]
        if "restart" in obj:
            assert set(obj) <= RESTART_KEYS and obj["restart"] is True, where
            continue
        if "report" in obj:
            assert set(obj) <= REPORT_KEYS, where
            k = obj["report"]
            assert type(k) is int and 0 <= k < n_calls, where + ": report names an earlier call step"
            assert type(obj.get("ok", True)) is bool, where
            assert isinstance(obj.get("result", ""), str), where
            continue
        assert set(obj) <= CALL_KEYS, "%s: unknown keys %s" % (where, set(obj) - CALL_KEYS)
        assert "tool" in obj, where + ": call step without tool"
        assert obj.get("expect") in ("allow", "block"), where + ": every call step has expect"
        if "result" in obj:
            assert "ok" in obj, where + ": result without ok"
            assert isinstance(obj["result"], str), where
        if "ok" in obj:
            assert type(obj["ok"]) is bool, where
        MODEL.raw_members(ln)  # the call's raw members can be cut out of the line
        n_calls += 1
    assert n_calls >= 5, "a realistic trajectory has several calls"


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_expect_matches_spec_model(path):
    """Each hand-derived expect agrees with the model; where the restart of a guard with a
    state_path may or may not bring back the loop history, both readings must agree."""
    header, _ = MODEL.load_trajectory(path)
    policy = (header or {}).get("policy", {})
    if any("schema" in r for r in policy.get("rules", [])):
        pytest.importorskip("jsonschema")
    variants = [dict(keep_history_on_restart=k, lookback_extra=x)
                for k in (True, False) for x in (0, 1)]
    for kw in variants:
        for n, expect, got in MODEL.model_replay(path, **kw):
            assert (got == "allow") == (expect == "allow"), \
                "%s step %d: expect %s, model says %s (%s)" % (
                    os.path.basename(path), n, expect, got, kw)


def test_every_core_scenario_of_issue_7_is_present():
    names = set(_ids(FILES))
    for must in ("core_captcha_reopen.jsonl", "core_pytest_unchanged_failure.jsonl",
                 "core_edit_test_rounds.jsonl", "core_refactor_same_passed.jsonl",
                 "core_pager_new_data.jsonl", "core_pager_exempt.jsonl",
                 "core_relay_toggle.jsonl", "core_polling_exempt.jsonl",
                 "core_polling_not_exempt.jsonl", "core_retry_storm_server.jsonl",
                 "core_noisy_alternating_stale.jsonl", "core_reordered_escaped_repeats.jsonl",
                 "core_parallel_reports.jsonl", "core_cycle_abab.jsonl",
                 "core_retries_opt_in.jsonl"):
        assert must in names, must


def test_rules_cover_issue_8_done_when():
    text = ""
    for f in RULES:
        with open(f, encoding="utf-8") as fh:
            text += fh.read()
    for needle in (r"\u0072m -rf", r"sh\u0065ll", "opts.mode", "/data/../", '"default": "block"',
                   '"count"', '"per_s"', '"t_ms"', '"restart": true', '"state_path"'):
        assert needle in text, needle
