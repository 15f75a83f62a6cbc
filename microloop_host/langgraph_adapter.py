# LangGraph adapter: a ToolNode whose every tool call is checked by the guard before it runs
# (LangGraph's own wrap_tool_call hook), for graphs you build yourself. A blocked call never
# runs; the model gets a ToolMessage (status "error") saying why. Needs langgraph.
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from microloop_host.extras import requires
from microloop_host.verdict import GuardLike, OnBlock

with requires("langgraph", "microloop_host.langgraph_adapter", "langgraph", "langchain_core"):
    from langgraph.prebuilt import ToolNode

    from microloop_host.langchain_adapter import make_awrap_tool_call, make_wrap_tool_call


def _compose(outer: Any, inner: Any) -> Any:
    # the guard outermost: a call it blocks never reaches the user's own wrapper
    if inner is None:
        return outer

    def wrapped(request: Any, execute: Any) -> Any:
        return outer(request, lambda req: inner(req, execute))

    return wrapped


def _acompose(outer: Any, inner: Any) -> Any:
    if inner is None:
        return outer

    async def wrapped(request: Any, execute: Any) -> Any:
        async def run_inner(req: Any) -> Any:
            return await inner(req, execute)

        return await outer(request, run_inner)

    return wrapped


def guarded_tool_node(
    g: GuardLike,
    tools: Sequence[Any],
    *,
    on_block: OnBlock | None = None,
    wrap_tool_call: Any = None,
    awrap_tool_call: Any = None,
    **kwargs: Any,
) -> ToolNode:
    """`ToolNode(tools, **kwargs)` with the guard in front of every call (sync and async).
    Your own wrap_tool_call/awrap_tool_call, if any, run inside the guard's."""
    sync_hook = _compose(make_wrap_tool_call(g, on_block), wrap_tool_call)
    if awrap_tool_call is None and wrap_tool_call is not None:
        # LangGraph runs a sync wrapper on the async path too; keep that behaviour
        async_hook = None
    else:
        async_hook = _acompose(make_awrap_tool_call(g, on_block), awrap_tool_call)
    return ToolNode(tools, wrap_tool_call=sync_hook, awrap_tool_call=async_hook, **kwargs)


__all__ = ["guarded_tool_node"]
