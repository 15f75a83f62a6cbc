# `microloop mcp` in front of a small MCP server made with the official SDK
# (host_tests/mcp_failing_server.py), driven by the SDK's own client (or raw JSON-RPC lines
# for what the client cannot send). Every process is started by the test and stopped by it;
# every wait is bounded (anyio.fail_after, subprocess timeouts).
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError

from mcp_helpers import (
    FAILING_SERVER,
    ROOT,
    RawClient,
    guard_cmd,
    read_log,
    session,
    text_of,
)
from microloop_mpy import BAD_ARGS, ERROR_LOOP, IDENTICAL, reason

LIMIT = 60  # seconds any one test may take
LOG_KEYS = {"mcp", "ts", "id", "tool", "args", "verdict", "reason", "ok", "result"}


def run(fn: Any, *args: Any) -> Any:
    async def bounded() -> Any:
        with anyio.fail_after(LIMIT):
            return await fn(*args)
    return anyio.run(bounded)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run `microloop ARGV` in this process: (exit status, stderr)."""
    from microloop_tools.cli import main

    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    return int(code or 0), capsys.readouterr().err


# -- the command line ------------------------------------------------------------------
def test_without_the_extra_one_line(capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)  # `import mcp` now raises ImportError
    code, err = cli(capsys, "mcp", "--", sys.executable, "-c", "pass")
    assert code == 2
    assert err == 'microloop mcp needs: pip install "microloop-mpy[mcp]"\n'


@pytest.mark.parametrize("argv, says", [
    (["mcp"], "give the MCP server's command after '--'"),
    (["mcp", "--policy", "nope", "--", sys.executable], "not a preset"),
    (["mcp", "--", "/no/such/server-binary"], "not found"),
    (["mcp", "--timeout", "0", "--", sys.executable], "--timeout must be"),
    (["mcp", "--http", "nohost", "--", sys.executable], "expected HOST:PORT"),
])
def test_bad_usage_is_one_clear_line(capsys: pytest.CaptureFixture[str], argv: list[str],
                                     says: str) -> None:
    code, err = cli(capsys, *argv)
    assert code == 2
    assert says in err.splitlines()[-1]
    assert "Traceback" not in err


# -- results, failures and the outcome mapping -------------------------------------------
def test_failures_are_reported_and_logged(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    starts = tmp_path / "starts"
    cmd = guard_cmd(FAILING_SERVER, "--log", str(log), "--timeout", "1")

    async def body() -> None:
        async with session(cmd, env={"MICROLOOP_TEST_STARTS": str(starts)}) as s:
            r = await s.call_tool("echo", {"text": "hello"})
            assert (r.isError, text_of(r)) == (False, "hello")
            r = await s.call_tool("boom", {"what": "disk"})  # the tool raises
            assert r.isError and "boom: disk is broken" in text_of(r)
            with pytest.raises(McpError) as e:  # a JSON-RPC error passes through as is
                await s.call_tool("rpc_error", {})
            assert (e.value.error.code, e.value.error.message) == (-32050, "backend unavailable")
            with pytest.raises(McpError) as e:  # hangs: the guard's timeout answers
                await s.call_tool("hang", {})
            assert e.value.error.code == -32001 and "did not answer within 1 s" in str(e.value)
            with pytest.raises(McpError) as e:  # the server process dies mid-call
                await s.call_tool("crash", {})
            assert "exited before answering" in str(e.value)
            r = await s.call_tool("starts", {})  # the next call restarted it
            assert (r.isError, text_of(r)) == (False, "2")
            r = await s.call_tool("echo", {"text": "after"})
            assert text_of(r) == "after"

    run(body)
    rows = read_log(log)
    assert all(set(row) == LOG_KEYS and row["mcp"] == 1 for row in rows)
    assert [(r["tool"], r["verdict"], r["ok"]) for r in rows] == [
        ("echo", 0, True), ("boom", 0, False), ("rpc_error", 0, False), ("hang", 0, False),
        ("crash", 0, False), ("starts", 0, True), ("echo", 0, True)]
    assert rows[0]["args"] == {"text": "hello"} and rows[0]["result"] == "hello"
    assert rows[1]["result"] == "boom: disk is broken"
    assert rows[2]["result"] == "backend unavailable"
    assert isinstance(rows[0]["ts"], float) and rows[0]["ts"] <= rows[-1]["ts"] <= time.time()
    assert len({r["id"] for r in rows}) == len(rows)


def test_retry_storm_with_varying_errors_is_stopped(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"

    async def body() -> None:
        async with session(guard_cmd(FAILING_SERVER, "--log", str(log))) as s:
            texts = []
            for _ in range(3):
                r = await s.call_tool("flaky", {"path": "/a"})
                assert r.isError
                texts.append(text_of(r))
            assert len(set(texts)) == 3  # every error text differs: no identical outcome
            r = await s.call_tool("flaky", {"path": "/a"})
            assert r.isError
            assert text_of(r).startswith("BLOCKED by microloop guard: the call to tool 'flaky'")
            assert "Change strategy" in text_of(r) and reason(ERROR_LOOP) in text_of(r)
            # the blocked call never reached the server: its attempt counter is at 4 now
            r = await s.call_tool("flaky", {"path": "/b"})
            assert text_of(r).startswith("attempt 4 ")
            # identical results: the third identical call is blocked, another one runs
            out = [await s.call_tool("echo", {"text": "same"}) for _ in range(3)]
            assert [r.isError for r in out] == [False, False, True]
            assert "BLOCKED" in text_of(out[2])
            assert text_of(await s.call_tool("echo", {"text": "other"})) == "other"

    run(body)
    rows = read_log(log)
    assert [(r["verdict"], r["ok"]) for r in rows] == [
        (0, False), (0, False), (0, False), (ERROR_LOOP, None), (0, False),
        (0, True), (0, True), (IDENTICAL, None), (0, True)]
    assert rows[3]["result"] is None and rows[3]["reason"] == reason(ERROR_LOOP)


# -- malformed input: a JSON-RPC error, and the guard keeps serving -------------------------
def test_malformed_messages_get_jsonrpc_errors(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    cmd = guard_cmd(FAILING_SERVER, "--log", str(log))

    async def body() -> None:
        async with await anyio.open_process(cmd, cwd=ROOT, stderr=None) as proc:
            c = RawClient(proc)
            await c.initialize()
            await c.send('{"jsonrpc": "2.0", "id": 1, "method": "tools/call", ')  # cut JSON
            err = await c.recv()
            assert err["error"]["code"] == -32700 and "id" not in err
            await c.send({"jsonrpc": "2.0", "id": 2, "method": 5})  # not a JSON-RPC message
            err = await c.answer(2)
            assert err["error"]["code"] == -32600
            err = await c.request(3, "tools/call", {"name": "echo", "arguments": "text=hi"})
            assert err["error"]["code"] == -32602 and "arguments" in err["error"]["message"]
            err = await c.request(4, "tools/call", {"arguments": {"text": "hi"}})
            assert err["error"]["code"] == -32602 and "name" in err["error"]["message"]
            err = await c.request(5, "tools/call", {"name": "echo", "arguments": [1, 2]})
            assert err["error"]["code"] == -32602
            ok = await c.request(6, "tools/call", {"name": "echo", "arguments": {"text": "hi"}})
            assert ok["result"]["content"][0]["text"] == "hi"
            # a string id and null values in the arguments pass through unchanged
            ok = await c.request("s-7", "tools/call",
                                 {"name": "echo", "arguments": {"text": "x", "n": None}})
            assert ok["id"] == "s-7" and ok["result"]["content"][0]["text"] == "x"
            # the client cancels a call in flight: no answer, and the guard counts it failed
            await c.send({"jsonrpc": "2.0", "id": 8, "method": "tools/call",
                          "params": {"name": "hang", "arguments": {}}})
            await anyio.sleep(0.3)
            await c.send({"jsonrpc": "2.0", "method": "notifications/cancelled",
                          "params": {"requestId": 8, "reason": "user stop"}})
            ok = await c.request(9, "tools/call", {"name": "echo", "arguments": {"text": "on"}})
            assert ok["result"]["content"][0]["text"] == "on"
            assert not [m for m in c.seen if m.get("id") == 8]
            await proc.stdin.aclose()
            await proc.wait()
            assert proc.returncode == 0

    run(body)
    rows = read_log(log)
    assert [(r["id"], r["verdict"], r["ok"]) for r in rows] == [
        (3, BAD_ARGS, None), (4, rows[1]["verdict"], None), (5, BAD_ARGS, None), (6, 0, True),
        ("s-7", 0, True), (8, 0, False), (9, 0, True)]
    assert rows[5]["result"] == "microloop mcp: cancelled by the client"
    assert rows[1]["verdict"] != 0
    assert rows[4]["args"] == {"text": "x", "n": None}


# -- pass-through ------------------------------------------------------------------------
def test_everything_but_tools_call_passes_through() -> None:
    seen: list[Any] = []  # log messages and progress notifications, in arrival order

    async def on_log(params: Any) -> None:
        seen.append(("log", params.level, params.logger, params.data))

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(("progress", progress, total, message))

    async def listing(s: ClientSession) -> tuple[Any, ...]:
        seen.clear()
        r = await s.call_tool("progress", {"job": "j1"}, progress_callback=on_progress)
        assert text_of(r) == "done"
        notes = list(seen)
        tools = await s.list_tools()
        res = await s.list_resources()
        read = await s.read_resource("test://hello")  # type: ignore[arg-type]
        await s.send_ping()
        with pytest.raises(McpError) as e:  # the server has no prompts: its error, unchanged
            await s.list_prompts()
        return (tools.model_dump(), res.model_dump(), read.model_dump(), e.value.error.code,
                e.value.error.message, notes)

    async def body() -> None:
        async with session(FAILING_SERVER, logging_callback=on_log) as direct:
            want = await listing(direct)
            want_info = direct.get_server_capabilities()
        async with session(guard_cmd(FAILING_SERVER), logging_callback=on_log) as guarded:
            got = await listing(guarded)
            got_info = guarded.get_server_capabilities()
        assert got == want
        assert got_info == want_info
        assert want[2]["contents"][0]["text"] == "hello resource"
        assert want[5] == [("log", "info", "test", "working on j1"),
                           ("progress", 1, 3, "step 1"), ("progress", 2, 3, "step 2"),
                           ("progress", 3, 3, "step 3")]

    run(body)


# -- concurrency ---------------------------------------------------------------------------
def test_concurrent_calls_answered_out_of_order(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    got: dict[str, str] = {}
    finished: list[str] = []

    async def body() -> None:
        async with session(guard_cmd(FAILING_SERVER, "--log", str(log))) as s:
            async def call(ms: int, tag: str) -> None:
                r = await s.call_tool("slow", {"ms": ms, "tag": tag})
                got[tag] = text_of(r)
                finished.append(tag)

            async with anyio.create_task_group() as tg:
                for i in range(12):  # sent in this order; the later ones answer first
                    tg.start_soon(call, 1300 - 100 * i, f"t{i}")
                    await anyio.sleep(0.01)

    run(body)
    assert got == {f"t{i}": f"t{i}" for i in range(12)}
    # the answers came back out of order (the spread of 100 ms between the calls' durations
    # keeps that true on a loaded machine; the exact order is the scheduler's)
    sent = [f"t{i}" for i in range(12)]
    assert finished != sent and finished[0] != "t0"
    rows = read_log(log)
    assert len(rows) == 12 and all(r["ok"] is True and r["verdict"] == 0 for r in rows)
    # each log line pairs a call with its own answer, though they came back out of order
    assert all(r["result"] == r["args"]["tag"] for r in rows)
    assert sorted(r["args"]["tag"] for r in rows) == sorted(sent)
    assert [r["args"]["tag"] for r in rows] != sent


# -- the streamable-HTTP front -------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    """Live child processes of `pid` (Linux /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry.name))
    return out


def test_http_front(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "calls.jsonl"
    cmd = guard_cmd(FAILING_SERVER, "--http", f"127.0.0.1:{port}", "--log", str(log))
    proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        banner = proc.stderr.readline()  # printed once the front is about to listen
        assert f"http://127.0.0.1:{port}/mcp" in banner
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)

        async def one_session(tag: str) -> list[Any]:
            url = f"http://127.0.0.1:{port}/mcp"
            async with streamable_http_client(url) as (read, write, _):
                async with ClientSession(read, write) as s:
                    await s.initialize()
                    assert _children(proc.pid)  # the session's server process runs
                    names = [t.name for t in (await s.list_tools()).tools]
                    out = [names]
                    for _ in range(4):
                        r = await s.call_tool("flaky", {"path": tag})
                        out.append((r.isError, text_of(r)[:40]))
                    r = await s.call_tool("echo", {"text": tag})
                    out.append(text_of(r))
                    return out

        async def both() -> list[list[Any]]:
            res: dict[str, list[Any]] = {}

            async def one(tag: str) -> None:
                res[tag] = await one_session(tag)
            async with anyio.create_task_group() as tg:
                tg.start_soon(one, "/a")
                tg.start_soon(one, "/b")
            return [res["/a"], res["/b"]]

        results = run(both)
        # both clients closed their sessions (DELETE): their server processes are stopped
        deadline = time.monotonic() + 20
        while _children(proc.pid):
            assert time.monotonic() < deadline, _children(proc.pid)
            time.sleep(0.1)
        for tag, out in zip(("/a", "/b"), results):
            assert "echo" in out[0] and "flaky" in out[0]
            assert [x[0] for x in out[1:5]] == [True] * 4
            assert all(x[1].startswith("attempt ") for x in out[1:4])
            # each session has its own guard and server process
            assert out[4][1].startswith("BLOCKED by microloop guard")
            assert out[5] == tag
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    rows = read_log(log)
    assert len(rows) == 10 and sum(r["verdict"] == ERROR_LOOP for r in rows) == 2
