# Helpers for the `microloop mcp` tests and benchmark: command lines for the guard and the
# test servers, and a real `mcp` SDK client session over stdio to any of them. Every process
# is started by stdio_client and stopped by it when the `async with` ends.
from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FAILING_SERVER = [sys.executable, str(HERE / "mcp_failing_server.py")]
FS_SERVER_BIN = ROOT / "tools" / "mcpfs" / "node_modules" / ".bin" / "mcp-server-filesystem"
CALL_TIMEOUT = 20.0  # seconds the test client waits for any answer


def fs_server(*dirs: str | Path) -> list[str]:
    """The command line of the reference filesystem server (installed by `make venv`)."""
    if not FS_SERVER_BIN.exists():
        raise AssertionError(f"{FS_SERVER_BIN} is missing: run `make venv` (npm ci in "
                             "tools/mcpfs)")
    return [str(FS_SERVER_BIN), *[str(d) for d in dirs]]


def guard_cmd(server: Sequence[str], *opts: str) -> list[str]:
    """`microloop mcp OPTS -- SERVER...` as run by this interpreter."""
    return [sys.executable, "-m", "microloop_tools.cli", "mcp", *opts, "--", *server]


def write_policy(path: Path, policy: dict[str, Any]) -> str:
    path.write_text(json.dumps(policy), encoding="utf-8")
    return str(path)


@asynccontextmanager
async def session(cmd: Sequence[str], env: dict[str, str] | None = None,
                  timeout: float = CALL_TIMEOUT, **kw: Any) -> AsyncIterator[ClientSession]:
    """An initialized client session with the MCP server run by `cmd` (`kw` goes to
    ClientSession: callbacks)."""
    params = StdioServerParameters(command=cmd[0], args=list(cmd[1:]),
                                   env={**os.environ, **(env or {})}, cwd=str(ROOT))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=timedelta(seconds=timeout),
                                 **kw) as s:
            await s.initialize()
            yield s


def text_of(result: Any) -> str:
    """The text parts of a CallToolResult, joined by newlines."""
    return "\n".join(getattr(c, "text", "") for c in result.content)


def read_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]


class RawClient:
    """Raw JSON-RPC lines to a process's stdin, answers read from its stdout: for what the
    SDK client cannot send (bad JSON, escapes on the wire, arguments that are not objects).
    Use inside `async with anyio.open_process(...)` and a `fail_after`."""

    def __init__(self, proc: Any) -> None:
        self.proc = proc
        self._buf = b""
        self.seen: list[dict[str, Any]] = []  # every message received, in order

    async def send(self, line: str | dict[str, Any]) -> None:
        text = line if isinstance(line, str) else json.dumps(line)
        await self.proc.stdin.send(text.encode("utf-8") + b"\n")

    async def recv(self) -> dict[str, Any]:
        while b"\n" not in self._buf:
            chunk = await self.proc.stdout.receive()
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        msg = json.loads(line)
        self.seen.append(msg)
        return msg

    async def answer(self, id_: Any) -> dict[str, Any]:
        """The next response/error with this id (other messages are skipped)."""
        while True:
            msg = await self.recv()
            if msg.get("id") == id_ and ("result" in msg or "error" in msg):
                return msg

    async def request(self, id_: Any, method: str, params: dict[str, Any] | None = None
                      ) -> dict[str, Any]:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
        if params is not None:
            msg["params"] = params
        await self.send(msg)
        return await self.answer(id_)

    async def initialize(self) -> dict[str, Any]:
        res = await self.request(0, "initialize", {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw-test", "version": "0"}})
        await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return res
