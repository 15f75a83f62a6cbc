# The stdio front of `microloop mcp`: the process's stdin/stdout as a pair of SDK message
# streams, like mcp.server.stdio.stdio_server, but read and written by the event loop itself
# when they are pipes or sockets (what an MCP client gives its server). The SDK's version
# hops to a worker thread for every line read and twice for every line written; on the
# guard's path that was most of the latency it added. Each line is still parsed and written
# with the SDK's own types. Anything else (a file, a terminal) falls back to the SDK's.
from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp.types as types
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

LINE_LIMIT = 64 * 1024 * 1024  # bytes in one message line (the SDK has no limit either)


def _pipe_like(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


@asynccontextmanager
async def stdio_front() -> AsyncIterator[tuple[Any, Any]]:
    """(read stream, write stream) of SessionMessage | Exception over fd 0 and fd 1."""
    if not (_pipe_like(0) and _pipe_like(1)):
        async with stdio_server() as streams:
            yield streams
        return
    loop = asyncio.get_running_loop()
    fin = os.fdopen(os.dup(0), "rb", buffering=0)
    fout = os.fdopen(os.dup(1), "wb", buffering=0)
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    rtrans, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), fin)
    wtrans, wproto = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, fout)
    writer = asyncio.StreamWriter(wtrans, wproto, None, loop)

    read_w, read_r = anyio.create_memory_object_stream[SessionMessage | Exception](32)
    write_w, write_r = anyio.create_memory_object_stream[SessionMessage](32)

    async def read_lines() -> None:
        async with read_w:
            while True:
                try:
                    line = await reader.readline()
                except ValueError as exc:  # a line over LINE_LIMIT: dropped, reported
                    await read_w.send(exc)
                    continue
                except OSError:
                    return  # the pipe broke: as good as EOF
                if not line:
                    return  # EOF: the client is gone
                if not line.strip():
                    continue
                try:
                    msg = types.JSONRPCMessage.model_validate_json(line)
                except Exception as exc:  # the relay answers it with a JSON-RPC error
                    await read_w.send(exc)
                    continue
                await read_w.send(SessionMessage(msg))

    async def write_lines() -> None:
        async with write_r:
            async for sm in write_r:
                text = sm.message.model_dump_json(by_alias=True, exclude_none=True)
                try:
                    writer.write(text.encode("utf-8") + b"\n")
                    await writer.drain()
                except OSError:
                    return  # the client closed its end; senders now see a closed stream

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(read_lines)
            tg.start_soon(write_lines)
            yield read_r, write_w
    finally:
        rtrans.close()
        wtrans.close()
