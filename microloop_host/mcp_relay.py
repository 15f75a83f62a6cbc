# The MCP relay behind `microloop mcp`: JSON-RPC messages (the `mcp` SDK's types, read and
# written by the SDK's transports) flow between a client and one MCP server process. Every
# message passes through unchanged except a `tools/call` request, which the guard checks
# first: a blocked call never reaches the server and is answered with a tool result carrying
# isError: true and the reason; an allowed call is forwarded and its answer is reported back
# to the guard (by entry, so answers may come back in any order).
# It must never forward a tools/call it has not checked, never crash on a bad message (the
# sender gets a JSON-RPC error), and never leave a call waiting forever (timeout, crash).
# `mcp` is imported here at module level: import this module only once the extra is known
# to be installed (mcp_guard does).
from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

import anyio
import mcp.types as types
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

from microloop_host.canonical import call_bytes, result_bytes
from microloop_host.guardrail import Guardrail, Verdict, blocked_message
from microloop_host.mcp_log import CallLog, CallRecord, now

log = logging.getLogger("microloop.mcp")

DEFAULT_TIMEOUT = 120.0  # seconds a tools/call may take before it counts as failed
REINIT_TIMEOUT = 30.0  # seconds a restarted server has to answer the replayed initialize
CANCELLED = "microloop mcp: cancelled by the client"
REQUEST_TIMEOUT = -32001  # the JSON-RPC error code MCP SDKs use for a request timeout


@dataclass(frozen=True)
class ServerSpec:
    """The MCP server to run as a child process (its stdio is the relay's upstream)."""

    command: str
    args: list[str] = field(default_factory=list)
    cwd: str | None = None

    def params(self) -> StdioServerParameters:
        # the whole environment goes to the server, as if the client had started it itself
        return StdioServerParameters(command=self.command, args=list(self.args),
                                     env=dict(os.environ), cwd=self.cwd)


@dataclass
class Pending:
    """An allowed tools/call forwarded to the server and not answered yet."""

    verdict: Verdict
    ts: float
    scope: anyio.CancelScope  # the call's deadline task


def wrap(msg: Any) -> SessionMessage:
    """A JSON-RPC message (request, notification, response, error) as the SDK sends it."""
    return SessionMessage(types.JSONRPCMessage(msg))


def _error(id_: Any, code: int, message: str) -> SessionMessage:
    err = types.ErrorData(code=code, message=message)
    if id_ is None:
        # the SDK's type has no null id; the transport then writes the error without "id"
        return wrap(types.JSONRPCError.model_construct(jsonrpc="2.0", id=None, error=err))
    return wrap(types.JSONRPCError(jsonrpc="2.0", id=id_, error=err))


def blocked_result(v: Verdict) -> dict[str, Any]:
    """The tools/call result a blocked call gets: one text part, isError true."""
    res = types.CallToolResult(content=[types.TextContent(type="text", text=blocked_message(v))],
                               isError=True)
    return res.model_dump(by_alias=True, mode="json", exclude_none=True)


def result_text(result: Any) -> str | None:
    """The text parts of a tools/call result's content, joined by newlines (for the log)."""
    content = result.get("content") if isinstance(result, dict) else None
    if not isinstance(content, list):
        return None
    return "\n".join(str(p.get("text", "")) for p in content
                     if isinstance(p, dict) and p.get("type") == "text")


def outcome_of(msg: types.JSONRPCResponse | types.JSONRPCError) -> tuple[bool, bytes, str | None]:
    """(ok, outcome bytes, log text) for the server's answer to a tools/call.

    A JSON-RPC error or a result with isError: true is the tool failing (ok=False); a normal
    result is ok=True with its `content` (compact JSON) as the outcome bytes."""
    if isinstance(msg, types.JSONRPCError):
        text = msg.error.message
        return False, text.encode("utf-8", "backslashreplace"), text
    result = msg.result
    failed = result.get("isError") is True
    return not failed, result_bytes(result.get("content")), result_text(result)


def _error_code(exc: Exception) -> int:
    # the SDK's transports hand over a message they could not parse as an exception
    if isinstance(exc, ValidationError):
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return types.PARSE_ERROR
        return types.INVALID_REQUEST
    return types.PARSE_ERROR


def _id_in(exc: Exception) -> Any:
    # best effort: the id of a message that is JSON but not a valid JSON-RPC message
    if isinstance(exc, ValidationError):
        for e in exc.errors():
            inp = e.get("input")
            if isinstance(inp, dict):
                i = inp.get("id")
                if (isinstance(i, int) and not isinstance(i, bool)) or isinstance(i, str):
                    return i
    return None


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _one_line(exc: ValidationError) -> str:
    e = exc.errors()[0]
    where = ".".join(str(x) for x in e.get("loc", ())) or "params"
    return f"{where}: {e.get('msg', 'invalid')}"


class Relay:
    """One client session relayed to one MCP server process, with one guard.

    `serve(read, write)` runs until the client's read stream ends; the server process is
    started with it and stopped after it. A server that exits is restarted on the next
    request the client sends (its initialize request is replayed), so the guard and its
    loop history outlive a crash."""

    def __init__(self, guard: Guardrail, server: ServerSpec, *, timeout: float = DEFAULT_TIMEOUT,
                 log_file: CallLog | None = None, errlog: TextIO = sys.stderr,
                 restart: bool = True) -> None:
        self.guard = guard
        self.server = server
        self.timeout = timeout
        self.log = log_file or CallLog(None)
        self.errlog = errlog
        self.restart = restart
        self.pending: dict[Any, Pending] = {}
        self.starts = 0  # server processes started (tests and the restart message read it)
        self._to_client: Any = None
        self._to_server: Any = None  # None while no server runs
        self._init: types.JSONRPCRequest | None = None  # the client's initialize request
        self._init_sent = False  # the initialized notification went to the server
        self._reinit: dict[Any, anyio.Event] = {}
        self._closed: set[Any] = set()  # ids answered by the relay (timeout, crash, cancel)
        self._tg: Any = None

    # -- lifecycle ---------------------------------------------------------------------
    async def serve(self, client_read: Any, client_write: Any) -> None:
        """Relay between the client's streams and the server until the client ends."""
        self._to_client = client_write
        async with anyio.create_task_group() as tg:
            self._tg = tg
            await self._start_server()
            async with client_read, client_write:  # closing the write side ends the front
                async for item in client_read:
                    await self._from_client(item)
                tg.cancel_scope.cancel()  # stops the server task (its transport stops it)

    async def _start_server(self) -> None:
        await self._tg.start(self._run_server)

    async def _run_server(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        started = False
        try:
            async with stdio_client(self.server.params(), errlog=self.errlog) as (r, w):
                self._to_server = w
                self.starts += 1
                started = True
                task_status.started()
                async with r:
                    async for item in r:
                        await self._from_server(item)
        except Exception as exc:  # the transport failed (a pipe broken by a crash, ...)
            if not started:
                raise
            print(f"microloop mcp: the connection to the MCP server failed: "
                  f"{_leaf(exc)!r}", file=self.errlog)
        finally:
            self._to_server = None
            if started:
                with anyio.CancelScope(shield=True):
                    await self._server_gone()

    async def _server_gone(self) -> None:
        # every call still waiting failed: the server will never answer it
        for id_ in list(self.pending):
            await self._finish(id_, False, b"", "microloop mcp: the MCP server exited before "
                               "answering this call", answer=types.INTERNAL_ERROR)

    async def _ensure_server(self) -> bool:
        """A running server (restarted, with the initialize replayed, if it exited)."""
        if self._to_server is not None:
            return True
        if not self.restart or self._init is None:
            return False
        print("microloop mcp: the MCP server exited; restarting it", file=self.errlog)
        try:
            await self._start_server()
        except Exception as exc:  # spawn failure: reported per request
            print(f"microloop mcp: cannot restart the MCP server: {exc}", file=self.errlog)
            return False
        rid = f"microloop-reinit-{self.starts}"
        done = self._reinit[rid] = anyio.Event()
        init = types.JSONRPCRequest(jsonrpc="2.0", id=rid, method="initialize",
                                    params=self._init.params)
        if not await self._send_server(init):
            return False
        with anyio.move_on_after(REINIT_TIMEOUT):
            await done.wait()
        self._reinit.pop(rid, None)
        if not done.is_set() or self._to_server is None:
            return False
        if self._init_sent:
            await self._send_server(types.JSONRPCNotification(
                jsonrpc="2.0", method="notifications/initialized"))
        return True

    # -- sending -----------------------------------------------------------------------
    async def _send_client(self, msg: Any) -> None:
        sm = msg if isinstance(msg, SessionMessage) else wrap(msg)
        try:
            await self._to_client.send(sm)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass  # the client is gone; nothing left to tell it

    async def _send_server(self, msg: Any) -> bool:
        w = self._to_server
        if w is None:
            return False
        try:
            await w.send(wrap(msg))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return False
        return True

    # -- client -> server --------------------------------------------------------------
    async def _from_client(self, item: SessionMessage | Exception) -> None:
        if isinstance(item, Exception):
            code = _error_code(item)
            what = "parse error" if code == types.PARSE_ERROR else "invalid JSON-RPC message"
            await self._send_client(_error(_id_in(item), code, f"microloop mcp: {what}"))
            return
        msg = item.message.root
        if isinstance(msg, types.JSONRPCRequest):
            if msg.method == "tools/call":
                await self._tools_call(msg)
                return
            if msg.method == "initialize":
                self._init = msg
        elif isinstance(msg, types.JSONRPCNotification):
            if msg.method == "notifications/initialized":
                self._init_sent = True
            elif msg.method == "notifications/cancelled":
                await self._cancelled(msg)
        await self._forward(msg)

    async def _forward(self, msg: Any) -> None:
        if await self._ensure_server() and await self._send_server(msg):
            return
        if isinstance(msg, types.JSONRPCRequest):
            await self._send_client(_error(msg.id, types.INTERNAL_ERROR,
                                           "microloop mcp: the MCP server is not running"))

    async def _cancelled(self, msg: types.JSONRPCNotification) -> None:
        rid = (msg.params or {}).get("requestId")
        if isinstance(rid, (int, str)) and not isinstance(rid, bool) and rid in self.pending:
            # the client gave up on the call: it did not finish (no answer is sent back)
            await self._finish(rid, False, b"", CANCELLED, answer=None)

    async def _tools_call(self, req: types.JSONRPCRequest) -> None:
        ts = now()
        params = req.params or {}
        name = params.get("name")
        args = params.get("arguments")
        try:
            types.CallToolRequestParams.model_validate(params)
        except ValidationError as exc:
            message = f"microloop mcp: invalid tools/call params: {_one_line(exc)}"
            # the core's own verdict on it goes to the log (args not an object: BAD_ARGS)
            v = self.guard.check_bytes(call_bytes(name if isinstance(name, str) else "",
                                                  args), str(name), args)
            self.log.write(CallRecord(ts, req.id, str(name), args, v.code, v.reason,
                                      None, message))
            await self._send_client(_error(req.id, types.INVALID_PARAMS, message))
            return
        if req.id in self.pending:
            await self._send_client(_error(req.id, types.INVALID_REQUEST,
                                           "microloop mcp: a request with this id is "
                                           "already in flight"))
            return
        args = {} if args is None else args
        v = self.guard.check_bytes(call_bytes(name, args), name, args)
        if not v.allowed:
            self.log.write(CallRecord(ts, req.id, name, args, v.code, v.reason))
            await self._send_client(types.JSONRPCResponse(jsonrpc="2.0", id=req.id,
                                                          result=blocked_result(v)))
            return
        scope = anyio.CancelScope()
        self.pending[req.id] = Pending(v, ts, scope)
        if not (await self._ensure_server() and await self._send_server(req)):
            await self._finish(req.id, False, b"", "microloop mcp: the MCP server is not "
                               "running", answer=types.INTERNAL_ERROR)
            return
        if req.id in self.pending:  # the clock starts once the server has the call
            self._tg.start_soon(self._deadline, req.id, scope)

    async def _deadline(self, id_: Any, scope: anyio.CancelScope) -> None:
        with scope:  # cancelled by _finish when the answer comes first
            await anyio.sleep(self.timeout)
        p = self.pending.get(id_)
        if scope.cancel_called or p is None or p.scope is not scope:
            return
        await self._finish(id_, False, b"", f"microloop mcp: the tool did not answer "
                           f"within {self.timeout:g} s", answer=REQUEST_TIMEOUT)
        # tell the server to stop working on it
        await self._send_server(types.JSONRPCNotification(
            jsonrpc="2.0", method="notifications/cancelled",
            params={"requestId": id_, "reason": "timed out in microloop mcp"}))

    async def _finish(self, id_: Any, ok: bool, data: bytes, text: str | None, *,
                      answer: int | None) -> None:
        """Report a pending call's outcome, log it, and (answer = a JSON-RPC error code)
        answer the client with that error."""
        p = self.pending.pop(id_, None)
        if p is None:
            return
        p.scope.cancel()
        if answer is not None or text == CANCELLED:
            self._closed.add(id_)  # a late answer from the server is dropped
        v = p.verdict
        self.guard.report(v, ok, data)
        self.log.write(CallRecord(p.ts, id_, v.tool, v.args, v.code, v.reason, ok, text))
        if answer is not None:
            await self._send_client(_error(id_, answer, text or "microloop mcp: failed"))

    # -- server -> client --------------------------------------------------------------
    async def _from_server(self, item: SessionMessage | Exception) -> None:
        if isinstance(item, Exception):
            print(f"microloop mcp: the MCP server sent a message that is not JSON-RPC "
                  f"({type(item).__name__}); dropped", file=self.errlog)
            return
        msg = item.message.root
        if isinstance(msg, (types.JSONRPCResponse, types.JSONRPCError)):
            ev = self._reinit.get(msg.id)
            if ev is not None:  # the answer to a replayed initialize: the client saw one
                ev.set()
                return
            if msg.id in self._closed:
                self._closed.discard(msg.id)
                return
            if msg.id in self.pending:
                ok, data, text = outcome_of(msg)
                await self._finish(msg.id, ok, data, text, answer=None)
        await self._send_client(item)
