# A small MCP server made with the official `mcp` SDK (its low-level Server, on stdio) for the
# failure paths of `microloop mcp` (host_tests/test_mcp_guard.py) and for the latency
# benchmark. Tools: echo (a normal result), boom (raises: the SDK answers isError), flaky
# (isError with a different text on every call: a retry storm), rpc_error (a JSON-RPC error
# instead of a result), hang (never answers), crash (the process exits mid-call), slow
# (answers after `ms` milliseconds, for out-of-order answers), starts (how many times a
# server process was started, counted in the file $MICROLOOP_TEST_STARTS). One resource.
from __future__ import annotations

import itertools
import os
import sys
import time
from typing import Any

import anyio
import mcp.types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import McpError

server: Server = Server("microloop-test-server")
_counter = itertools.count(1)
_STARTS = os.environ.get("MICROLOOP_TEST_STARTS")
TOOLS = ("echo", "boom", "flaky", "rpc_error", "hang", "crash", "slow", "starts", "progress")


@server.list_tools()
async def list_tools() -> list[types.Tool]:
    return [types.Tool(name=n, description=f"test tool {n}", inputSchema={"type": "object"})
            for n in TOOLS]


@server.call_tool(validate_input=False)
async def call_tool(name: str, args: dict[str, Any]) -> list[types.TextContent]:
    if name == "echo":
        text = str(args.get("text", ""))
    elif name == "boom":
        raise RuntimeError(f"boom: {args.get('what', 'x')} is broken")
    elif name == "flaky":
        raise RuntimeError(f"attempt {next(_counter)} at {time.time():.6f}: "
                           f"{args.get('path')} is locked")
    elif name == "hang":
        await anyio.sleep_forever()
        text = "never"
    elif name == "crash":
        sys.stderr.flush()
        os._exit(3)
    elif name == "slow":
        await anyio.sleep(int(args.get("ms", 0)) / 1000)
        text = str(args.get("tag", ""))
    elif name == "progress":  # a log message and 3 progress notifications, then "done"
        ctx = server.request_context
        await ctx.session.send_log_message("info", f"working on {args.get('job')}",
                                           logger="test", related_request_id=ctx.request_id)
        token = ctx.meta.progressToken if ctx.meta else None
        if token is not None:
            for i in range(1, 4):
                await ctx.session.send_progress_notification(
                    token, i, 3, message=f"step {i}", related_request_id=str(ctx.request_id))
        text = "done"
    elif name == "starts":
        text = "0"
        if _STARTS:
            with open(_STARTS, encoding="utf-8") as fh:
                text = str(len(fh.read().splitlines()))
    else:
        raise RuntimeError(f"unknown tool {name}")
    return [types.TextContent(type="text", text=text)]


# rpc_error: the call_tool decorator turns every exception into an isError result, so this
# one tool gets a handler of its own that raises McpError (the SDK answers a JSON-RPC error)
_call_handler = server.request_handlers[types.CallToolRequest]


async def _with_rpc_error(req: types.CallToolRequest) -> Any:
    if req.params.name == "rpc_error":
        raise McpError(types.ErrorData(code=-32050, message="backend unavailable"))
    return await _call_handler(req)


server.request_handlers[types.CallToolRequest] = _with_rpc_error


@server.list_resources()
async def list_resources() -> list[types.Resource]:
    return [types.Resource(uri="test://hello", name="hello", mimeType="text/plain")]


@server.read_resource()
async def read_resource(uri: Any) -> str:
    return "hello resource"


async def main() -> None:
    if _STARTS:
        with open(_STARTS, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()}\n")
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)
