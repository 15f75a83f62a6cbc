# Guardrail itself (no agent framework): policy presets and files, the canonical call bytes,
# the verify decorator on sync and async functions, outcomes, block modes, thread safety.
from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest

from microloop_host import (
    PRESETS,
    BlockedResult,
    Guardrail,
    ToolBlocked,
    call_bytes,
    load_policy,
    preset,
    result_bytes,
)
from microloop_mpy import ERROR_LOOP, IDENTICAL, reason

ROOT = Path(__file__).resolve().parent.parent


def test_presets_load_validate_and_match_the_policies_dir() -> None:
    assert PRESETS == ("strict", "default", "lenient")
    for name in PRESETS:
        data = preset(name)
        Guardrail(name)  # the core accepts it
        on_disk = ROOT / "policies" / f"{name}.json"
        assert json.loads(on_disk.read_text()) == data  # one source of truth
        assert Guardrail(on_disk).policy == data == Guardrail(str(on_disk)).policy
    assert preset("strict")["loops"]["identical"] < preset("default")["loops"]["identical"]
    assert preset("lenient")["loops"]["identical"] > preset("default")["loops"]["identical"]
    assert Guardrail(None).policy is None


def test_bad_policies_are_clear_value_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a preset"):
        Guardrail("no-such-preset")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="invalid JSON"):
        Guardrail(bad)
    bad.write_text("[1]")
    with pytest.raises(ValueError, match="JSON object"):
        load_policy(bad)
    with pytest.raises(ValueError, match="identical"):
        Guardrail({"loops": {"identical": 1}})  # the core's own validation
    with pytest.raises(ValueError):
        Guardrail("default", on_block="ignore")  # type: ignore[arg-type]


def test_call_bytes_are_canonical_compact_json() -> None:
    assert call_bytes("t", {"b": 1, "a": "é"}) == '{"tool":"t","args":{"b":1,"a":"é"}}'.encode()
    # odd Python values never raise and stay deterministic
    odd = {"s": {3, 1, 2}, "t": (1, 2), "f": float("nan"), "b": b"\xff", "k": {1: "x"}}
    assert call_bytes("t", odd) == call_bytes("t", dict(odd))
    assert json.loads(call_bytes("t", odd)) == {"tool": "t", "args": {
        "s": [1, 2, 3], "t": [1, 2], "f": "nan", "b": "\\xff", "k": {"1": "x"}}}
    assert b"\\udc80" in call_bytes("t", {"p": "a\udc80"})  # lone surrogate: kept as text
    assert result_bytes(None) == b"" and result_bytes(b"x") == b"x"
    assert result_bytes(42) == b"42" and result_bytes("ü") == "ü".encode()


def test_verify_binds_positional_args_and_defaults() -> None:
    guard = Guardrail("strict")
    seen: list[bytes] = []
    orig = guard.check_bytes

    def spy(buf: bytes, *a: object, **k: object):  # type: ignore[no-untyped-def]
        seen.append(buf)
        return orig(buf, *a, **k)

    guard.check_bytes = spy  # type: ignore[method-assign]

    @guard.verify
    def search(query: str, limit: int = 10, *, config: object = None) -> str:
        return f"{query}:{limit}"

    assert search("cats") == "cats:10"
    # the same call spelled three ways is one call: strict blocks the 2nd and the 3rd
    assert isinstance(search(query="cats"), BlockedResult)
    assert isinstance(search("cats", 10, config=object()), BlockedResult)
    assert seen[0] == seen[1] == seen[2] == b'{"tool":"search","args":{"query":"cats","limit":10}}'


def test_methods_are_checked_without_their_instance() -> None:
    guard = Guardrail("strict")

    class Browser:
        @guard.verify
        def open(self, url: str) -> str:
            return "CAPTCHA"

    assert Browser().open("https://x") == "CAPTCHA"
    assert isinstance(Browser().open("https://x"), BlockedResult)  # another instance, same call


def test_outcomes_decide_between_busy_and_stuck() -> None:
    guard = Guardrail("default")
    pages = iter(range(50))

    @guard.verify
    def read_output() -> str:
        return f"page {next(pages)}"

    # new data on every read: 11 identical calls pass (stale fires only at 12)
    assert all(not isinstance(read_output(), BlockedResult) for _ in range(11))

    @guard.verify(name="run_tests")
    def pytest_run() -> str:
        return "1 failed, 4 passed"

    guard.reset()
    out = [pytest_run() for _ in range(3)]
    assert out[:2] == ["1 failed, 4 passed"] * 2 and isinstance(out[2], BlockedResult)
    assert out[2].error.tool == "run_tests" and out[2].error.code == IDENTICAL


def test_exceptions_are_failed_outcomes_and_reraised() -> None:
    guard = Guardrail("default")
    n = [0]

    @guard.verify
    async def connect(host: str) -> str:
        n[0] += 1
        raise ConnectionError(f"refused after {n[0]} tries")

    async def storm() -> list[object]:
        out: list[object] = []
        for _ in range(5):
            try:
                out.append(await connect("db"))
            except ConnectionError as exc:
                out.append(exc)
        return out

    out = asyncio.run(storm())
    assert n[0] == 3 and all(isinstance(x, ConnectionError) for x in out[:3])
    assert isinstance(out[3], BlockedResult) and out[3].error.code == ERROR_LOOP  # the error loop
    assert isinstance(out[4], BlockedResult)  # and an immediate retry of a blocked call


def test_raise_mode_and_per_function_override() -> None:
    guard = Guardrail("strict", on_block="raise")

    @guard.verify
    def a(x: int) -> int:
        return x

    @guard.verify(on_block="return")
    def b(x: int) -> int:
        return x

    assert a(1) == 1
    with pytest.raises(ToolBlocked) as info:
        a(1)
    assert info.value.reason == reason(IDENTICAL) and info.value.rule_index == -1
    assert b(1) == 1 and isinstance(b(1), BlockedResult)


def test_rule_blocks_name_the_rule() -> None:
    guard = Guardrail({"rules": [{"action": "block", "tool": "shell", "arg": "cmd",
                                  "prefix": "rm -rf"}]})
    ran: list[str] = []

    @guard.verify
    def shell(cmd: str) -> str:
        ran.append(cmd)
        return "ok"

    assert shell("ls") == "ok"
    out = shell("rm -rf /")
    assert isinstance(out, BlockedResult) and ran == ["ls"]
    assert out.error.rule_index == 0 and "policy rule #0" in out


def test_threads_share_one_guard_safely() -> None:
    guard = Guardrail("lenient")
    counts = {"ran": 0}
    lock = threading.Lock()

    @guard.verify
    def work(task: str, step: int) -> str:
        with lock:
            counts["ran"] += 1
        return f"{task}/{step} done"

    def worker(t: int) -> None:
        for step in range(50):
            assert not isinstance(work(f"t{t}", step), BlockedResult)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    assert counts["ran"] == 400
