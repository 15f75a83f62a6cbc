# `microloop mcp` in front of the reference MCP filesystem server from npm
# (@modelcontextprotocol/server-filesystem, installed by `make venv` in tools/mcpfs), driven by
# the real `mcp` SDK client (and raw JSON-RPC lines for escapes on the wire). The server is
# given a wider directory than the policy allows, so the guard alone holds the model to the
# sandbox: a control run without the guard shows the server writing outside it.
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession

from mcp_helpers import (
    ROOT,
    RawClient,
    fs_server,
    guard_cmd,
    read_log,
    session,
    text_of,
    write_policy,
)
from microloop_mpy import IDENTICAL, RULE_BLOCK

LIMIT = 90  # seconds any one test may take


def sandbox_policy(sandbox: Path) -> dict[str, Any]:
    """An allow-list: `path` under the sandbox only, no percent-escapes, default block."""
    return {
        "default": "block",
        "rules": [
            {"action": "block", "tool": "*", "arg": "path", "regex": "%[0-9A-Fa-f]{2}"},
            {"action": "allow", "tool": "*", "arg": "path", "prefix": f"{sandbox}/"},
            {"action": "allow", "tool": "*", "arg": "path", "exact": str(sandbox)},
            {"action": "allow", "tool": "list_allowed_directories"},
        ],
    }


@pytest.fixture()
def tree(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "root"
    sandbox = root / "sandbox"
    outside = root / "outside"
    sandbox.mkdir(parents=True)
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("the secret\n", encoding="utf-8")
    policy = Path(write_policy(tmp_path / "policy.json", sandbox_policy(sandbox)))
    return {"root": root, "sandbox": sandbox, "outside": outside, "secret": secret,
            "policy": policy, "log": tmp_path / "calls.jsonl"}


def run(fn: Any) -> Any:
    async def bounded() -> Any:
        with anyio.fail_after(LIMIT):
            return await fn()
    return anyio.run(bounded)


def escapes(t: dict[str, Path]) -> list[str]:
    """Paths that name something outside the sandbox (or try to)."""
    sb, root = str(t["sandbox"]), str(t["root"])
    return [
        f"{sb}/../outside/secret.txt",
        f"{sb}/./../outside/secret.txt",
        f"{sb}/sub/../../outside/secret.txt",
        f"{sb}/..",
        f"{root}/outside/secret.txt",
        "/etc/passwd",
        "../outside/secret.txt",
        "outside/secret.txt",
        "~/secret.txt",
        f"{sb}/%2e%2e/outside/secret.txt",
        f"{sb}/%2E%2E%2Foutside%2Fsecret.txt",
        f"{sb}-evil/secret.txt",  # shares the prefix text, not the directory
    ]


def test_filesystem_server_held_to_the_sandbox(tree: dict[str, Path]) -> None:
    t = tree
    sb = t["sandbox"]
    secret_stat = t["secret"].stat()
    cmd = guard_cmd(fs_server(t["root"]), "--policy", str(t["policy"]), "--log", str(t["log"]))
    bad = escapes(t)

    async def direct_view() -> tuple[Any, Any]:
        # the same server without the guard: its listing, its resources answer, and proof
        # that it would write outside the sandbox itself
        async with session(fs_server(t["root"])) as s:
            tools = (await s.list_tools()).model_dump()
            res = await _resources_error(s)
            r = await s.call_tool("write_file", {"path": f"{sb}/../outside/control.txt",
                                                 "content": "written"})
            assert not r.isError
        return tools, res

    async def body() -> None:
        want_tools, want_res = await direct_view()
        assert (t["outside"] / "control.txt").read_text(encoding="utf-8") == "written"
        async with session(cmd) as s:
            # pass-through: the same tools/list, the same answer to resources/list
            assert (await s.list_tools()).model_dump() == want_tools
            assert await _resources_error(s) == want_res
            # escapes: blocked before the server, whatever the tool
            for path in bad:
                for name, args in (("write_file", {"path": path, "content": "pwned"}),
                                   ("read_text_file", {"path": path})):
                    r = await s.call_tool(name, args)
                    assert r.isError, (name, path)
                    assert text_of(r).startswith("BLOCKED by microloop guard"), (name, path)
            # an agent re-reading the same missing file is stopped
            missing = [await s.call_tool("read_text_file", {"path": f"{sb}/missing.txt"})
                       for _ in range(3)]
            assert [r.isError for r in missing] == [True, True, True]
            assert "ENOENT" in text_of(missing[0]) and "ENOENT" in text_of(missing[1])
            assert text_of(missing[2]).startswith("BLOCKED by microloop guard")
            # an agent that edits and re-reads runs on
            notes = f"{sb}/notes.txt"
            r = await s.call_tool("write_file", {"path": notes, "content": "v0"})
            assert not r.isError, text_of(r)
            for i in range(8):
                r = await s.call_tool("edit_file", {
                    "path": notes, "edits": [{"oldText": f"v{i}", "newText": f"v{i + 1}"}]})
                assert not r.isError, text_of(r)
                r = await s.call_tool("read_text_file", {"path": notes})
                assert (r.isError, text_of(r)) == (False, f"v{i + 1}")
            r = await s.call_tool("list_directory", {"path": str(sb)})
            assert "notes.txt" in text_of(r)

    run(body)
    assert t["secret"].read_text(encoding="utf-8") == "the secret\n"
    assert t["secret"].stat().st_mtime_ns == secret_stat.st_mtime_ns
    assert sorted(p.name for p in t["outside"].iterdir()) == ["control.txt", "secret.txt"]
    assert sorted(p.name for p in t["root"].iterdir()) == ["outside", "sandbox"]
    assert sorted(p.name for p in sb.iterdir()) == ["notes.txt"]
    rows = read_log(t["log"])
    blocked = rows[:2 * len(bad)]
    assert all(r["verdict"] == RULE_BLOCK and r["ok"] is None for r in blocked)
    assert [r["args"]["path"] for r in blocked[::2]] == bad
    assert [(r["verdict"], r["ok"]) for r in rows[2 * len(bad):2 * len(bad) + 3]] == [
        (0, False), (0, False), (IDENTICAL, None)]
    assert all(r["verdict"] == 0 and r["ok"] is True for r in rows[2 * len(bad) + 3:])


async def _resources_error(s: ClientSession) -> tuple[int, str]:
    from mcp.shared.exceptions import McpError

    with pytest.raises(McpError) as e:  # this server has no resources: its own error
        await s.list_resources()
    return e.value.error.code, e.value.error.message


def test_escapes_on_the_wire_and_roots_pass_through(tree: dict[str, Path]) -> None:
    """Raw JSON-RPC: \\u escapes and \\/ in the arguments' text, and the server's own
    roots/list request to the client, answered through the guard."""
    t = tree
    sb = str(t["sandbox"])
    cmd = guard_cmd(fs_server(t["root"]), "--policy", str(t["policy"]), "--log", str(t["log"]))
    outside_rel = "outside\\/secret.txt"  # JSON text: outside\/secret.txt
    raw_paths = [
        sb.replace("/", "\\/") + "\\/\\u002e\\u002e\\/" + outside_rel,
        sb + "/\\u002E\\u002e/" + outside_rel,
        sb + "/.\\u002e/" + outside_rel,
        "\\u002f" + str(t["root"])[1:] + "/" + outside_rel,
    ]
    answers: list[dict[str, Any]] = []

    async def body() -> None:
        async with await anyio.open_process(cmd, cwd=ROOT, stderr=None) as proc:
            c = RawClient(proc)
            await c.send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {"roots": {}},
                "clientInfo": {"name": "raw-test", "version": "0"}}})
            await c.answer(0)
            await c.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
            # the server asks the client for its roots (a request from server to client)
            while True:
                msg = await c.recv()
                if msg.get("method") == "roots/list":
                    break
            await c.send({"jsonrpc": "2.0", "id": msg["id"], "result": {
                "roots": [{"uri": f"file://{sb}", "name": "sandbox"}]}})
            for i, p in enumerate(raw_paths, start=10):
                line = ('{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":'
                        '"write_file","arguments":{"path":"%s","content":"pwned"}}}' % (i, p))
                json.loads(line)  # the test's own check: valid JSON
                await c.send(line)
                answers.append(await c.answer(i))
            # the roots answer reached the server: it now lists the sandbox, not the root
            # (it was started with the root); two tries, as the server applies it async
            for i in range(2):
                r = await c.request(90 + i, "tools/call",
                                    {"name": "list_allowed_directories", "arguments": {}})
                if sb in r["result"]["content"][0]["text"]:
                    break
                await anyio.sleep(1.0)
            assert sb in r["result"]["content"][0]["text"], r
            await proc.stdin.aclose()
            await proc.wait()

    run(body)
    for a in answers:
        assert a["result"]["isError"] is True
        assert a["result"]["content"][0]["text"].startswith("BLOCKED by microloop guard")
    assert t["secret"].read_text(encoding="utf-8") == "the secret\n"
    rows = read_log(t["log"])
    assert [r["verdict"] for r in rows[:len(raw_paths)]] == [RULE_BLOCK] * len(raw_paths)
    # the log holds the decoded arguments, as the server would have read them
    assert rows[0]["args"]["path"] == f"{sb}/../outside/secret.txt"
    assert os.path.normpath(rows[3]["args"]["path"]) == str(t["secret"])
