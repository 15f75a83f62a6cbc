# LangChain adapter: guard a LangChain tool (any BaseTool: `@tool` functions, StructuredTool,
# your own subclasses), or every tool of a `langchain.agents.create_agent` agent at once
# through a middleware. A blocked call never reaches the tool's code; the model gets a
# ToolMessage (status "error") saying why. Needs langchain-core (langchain for the middleware).
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from microloop_host.extras import requires
from microloop_host.verdict import GuardLike, OnBlock, ToolBlocked, Verdict

with requires("langchain", "microloop_host.langchain_adapter", "langchain_core"):
    from langchain_core.messages import ToolMessage
    from langchain_core.tools import BaseTool

if TYPE_CHECKING:
    from langgraph.prebuilt.tool_node import ToolCallRequest


def _call_args(tool: BaseTool, tool_input: Any) -> Any:
    """The args the model chose: injected ones (state, config, tool_call_id) left out."""
    if isinstance(tool_input, dict):
        try:
            return tool._filter_injected_args(dict(tool_input))
        except Exception:  # an older or unusual tool: keep what was passed
            return dict(tool_input)
    keys = list(tool.args)
    return {keys[0] if len(keys) == 1 else "input": tool_input}


def _blocked_output(
    g: GuardLike, v: Verdict, tool: BaseTool, tool_call_id: str | None, on_block: OnBlock | None
) -> Any:
    result = g.blocked(v, on_block)  # raises ToolBlocked in "raise" mode
    if tool_call_id is not None:
        return ToolMessage(
            content=str(result), name=tool.name, tool_call_id=tool_call_id, status="error"
        )
    return result


def _report(g: GuardLike, v: Verdict, output: Any) -> None:
    if isinstance(output, ToolMessage):
        # status "error": the tool raised a ToolException that handle_tool_error turned into
        # text, or its input failed validation. Either way the tool itself failed.
        g.report(v, output.status != "error", output.content)
    else:
        g.report(v, True, output)


def guard_tool(g: GuardLike, tool: BaseTool, *, on_block: OnBlock | None = None) -> BaseTool:
    """A copy of `tool` whose every run (invoke/ainvoke/run/arun) is checked by `g` first.

    The copy keeps the tool's class (as a base), name, description, schema and settings, so
    it binds to a model and runs in an agent exactly like the original."""
    if not isinstance(tool, BaseTool):
        raise TypeError(f"expected a langchain_core BaseTool, got {type(tool)!r}")
    base = type(tool)

    def run(self: BaseTool, tool_input: Any, *args: Any, **kwargs: Any) -> Any:
        v = g.check(self.name, _call_args(self, tool_input))
        if not v.allowed:
            return _blocked_output(g, v, self, kwargs.get("tool_call_id"), on_block)
        try:
            output = base.run(self, tool_input, *args, **kwargs)
        except Exception as exc:
            g.report(v, False, repr(exc))
            raise
        _report(g, v, output)
        return output

    async def arun(self: BaseTool, tool_input: Any, *args: Any, **kwargs: Any) -> Any:
        v = g.check(self.name, _call_args(self, tool_input))
        if not v.allowed:
            return _blocked_output(g, v, self, kwargs.get("tool_call_id"), on_block)
        try:
            output = await base.arun(self, tool_input, *args, **kwargs)
        except (Exception, asyncio.CancelledError) as exc:
            g.report(v, False, repr(exc))
            raise
        _report(g, v, output)
        return output

    guarded_cls = type(
        f"Guarded{base.__name__}",
        (base,),
        {"run": run, "arun": arun, "__module__": __name__, "__doc__": base.__doc__},
    )
    guarded = tool.model_copy()
    object.__setattr__(guarded, "__class__", guarded_cls)
    return guarded


def _tool_message_for(request: ToolCallRequest, text: str) -> ToolMessage:
    call = request.tool_call
    return ToolMessage(content=text, name=call["name"], tool_call_id=call["id"], status="error")


def _outcome(g: GuardLike, v: Verdict, output: Any) -> None:
    if isinstance(output, ToolMessage):
        g.report(v, output.status != "error", output.content)
    else:  # a Command (state update) or anything else the tool returned: it ran
        g.report(v, True, repr(getattr(output, "update", output)))


def _is_bubble_up(exc: BaseException) -> bool:
    # LangGraph interrupts (GraphBubbleUp) are control flow, not a failed tool: the same call
    # runs again on resume, so nothing is reported for it
    try:
        from langgraph.errors import GraphBubbleUp
    except ImportError:  # pragma: no cover - langgraph is a dependency of ToolNode users
        return False
    return isinstance(exc, GraphBubbleUp)


def make_wrap_tool_call(g: GuardLike, on_block: OnBlock | None = None) -> Any:
    """A `wrap_tool_call(request, execute)` hook for LangGraph's ToolNode and LangChain's
    agent middleware: checks each tool call the model made, runs it only when allowed."""

    def wrap_tool_call(request: ToolCallRequest, execute: Any) -> Any:
        call = request.tool_call
        v = g.check(call["name"], call.get("args") or {})
        if not v.allowed:
            return _tool_message_for(request, str(g.blocked(v, on_block)))
        try:
            output = execute(request)
        except Exception as exc:
            if not _is_bubble_up(exc):
                g.report(v, False, repr(exc))
            raise
        _outcome(g, v, output)
        return output

    return wrap_tool_call


def make_awrap_tool_call(g: GuardLike, on_block: OnBlock | None = None) -> Any:
    """The async twin of `make_wrap_tool_call` (same checks, same guard)."""

    async def awrap_tool_call(request: ToolCallRequest, execute: Any) -> Any:
        call = request.tool_call
        v = g.check(call["name"], call.get("args") or {})
        if not v.allowed:
            return _tool_message_for(request, str(g.blocked(v, on_block)))
        try:
            output = await execute(request)
        except (Exception, asyncio.CancelledError) as exc:
            if not _is_bubble_up(exc):
                g.report(v, False, repr(exc))
            raise
        _outcome(g, v, output)
        return output

    return awrap_tool_call


def _middleware_class() -> type:
    with requires("langchain", "microloop_host.langchain_adapter.GuardrailMiddleware",
                  "langchain"):
        from langchain.agents.middleware import AgentMiddleware

    class GuardrailMiddleware(AgentMiddleware):
        """`create_agent(model, tools, middleware=[GuardrailMiddleware(guard)])`: every tool
        call of the agent is checked by the guard before it runs."""

        def __init__(self, guardrail: GuardLike, on_block: OnBlock | None = None) -> None:
            super().__init__()
            self.guardrail = guardrail
            self._wrap = make_wrap_tool_call(guardrail, on_block)
            self._awrap = make_awrap_tool_call(guardrail, on_block)

        def wrap_tool_call(self, request: Any, handler: Any) -> Any:
            return self._wrap(request, handler)

        async def awrap_tool_call(self, request: Any, handler: Any) -> Any:
            return await self._awrap(request, handler)

    return GuardrailMiddleware


def __getattr__(name: str) -> Any:
    # GuardrailMiddleware needs the `langchain` package; build it on first use only
    if name == "GuardrailMiddleware":
        cls = _middleware_class()
        globals()[name] = cls
        return cls
    raise AttributeError(name)


__all__ = [
    "GuardrailMiddleware",
    "ToolBlocked",
    "guard_tool",
    "make_awrap_tool_call",
    "make_wrap_tool_call",
]
