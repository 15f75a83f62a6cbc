# The streamable-HTTP front of `microloop mcp --http HOST:PORT`: the SDK's
# StreamableHTTPServerTransport serves http://HOST:PORT/mcp; each MCP session (a client's
# initialize without a session id) gets its own Relay, so its own server process and its
# own guard, until the client deletes the session, it is idle for 30 minutes, or the front
# stops.
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import anyio
import mcp.types as types
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER, StreamableHTTPServerTransport
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse

from microloop_host.mcp_relay import Relay

PATH = "/mcp"
IDLE_TIMEOUT = 1800.0  # seconds without a request in flight before a session is dropped


class HttpFront:
    """An ASGI app: one StreamableHTTPServerTransport (and Relay) per MCP session."""

    def __init__(self, new_relay: Callable[[], Relay], host: str, port: int) -> None:
        self.new_relay = new_relay
        self.sessions: dict[str, StreamableHTTPServerTransport] = {}
        self.tg: Any = None  # set by serve_http before requests arrive
        hosts = [f"{host}:{port}", host] + (
            [f"localhost:{port}", f"127.0.0.1:{port}"] if host in ("127.0.0.1", "localhost")
            else [])
        # DNS-rebinding protection: a browser page cannot reach the front by another name
        self.security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=hosts,
            allowed_origins=[f"http://{h}" for h in hosts])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await _lifespan(receive, send)
        if scope["type"] != "http" or scope["path"].rstrip("/") != PATH:
            return await _json(404, "not found: the MCP endpoint is " + PATH)(scope, receive, send)
        sid = Request(scope).headers.get(MCP_SESSION_ID_HEADER)
        if sid is None:
            t = StreamableHTTPServerTransport(mcp_session_id=uuid4().hex,
                                              security_settings=self.security,
                                              idle_timeout=IDLE_TIMEOUT)
            assert t.mcp_session_id is not None
            self.sessions[t.mcp_session_id] = t
            await self.tg.start(self._run_session, t)
            await t.handle_request(scope, receive, send)
            return
        t = self.sessions.get(sid)
        if t is None:
            return await _json(404, "Session not found")(scope, receive, send)
        await t.handle_request(scope, receive, send)
        if t.is_terminated:
            self.sessions.pop(sid, None)

    async def _run_session(self, t: StreamableHTTPServerTransport, *,
                           task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            async with t.connect() as (read, write):
                task_status.started()
                # an idle session ends (with its server process) after IDLE_TIMEOUT
                with t.idle_scope or anyio.CancelScope():
                    await self.new_relay().serve(read, write)
        except Exception as exc:
            print(f"microloop mcp: session {t.mcp_session_id} ended: {exc}", file=sys.stderr)
        finally:
            assert t.mcp_session_id is not None
            self.sessions.pop(t.mcp_session_id, None)
            if not t.is_terminated:
                with anyio.CancelScope(shield=True):
                    await t.terminate()


def _json(status: int, message: str) -> JSONResponse:
    err = types.ErrorData(code=types.INVALID_REQUEST, message=message)
    return JSONResponse({"jsonrpc": "2.0", "id": None,
                         "error": err.model_dump(exclude_none=True)}, status_code=status)


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        msg = await receive()
        if msg["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif msg["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def serve_http(new_relay: Callable[[], Relay], host: str, port: int) -> None:
    """Serve the front with uvicorn until it is stopped (Ctrl-C / SIGTERM)."""
    import uvicorn

    front = HttpFront(new_relay, host, port)
    config = uvicorn.Config(front, host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        front.tg = tg
        print(f"microloop mcp: serving streamable HTTP at http://{host}:{port}{PATH}",
              file=sys.stderr, flush=True)
        await server.serve()
        tg.cancel_scope.cancel()  # ends every session (their server processes stop)
