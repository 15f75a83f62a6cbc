# CrewAI adapter: guard a CrewAI tool (a `crewai.tools.BaseTool` subclass or a `@tool`
# function). CrewAI runs a tool through its `_run`/`_arun` (via `to_structured_tool()`), so
# the guard sits there: a blocked call never reaches the tool's code, and the agent reads
# the block message as the tool's observation. Needs crewai.
from __future__ import annotations

import asyncio
import inspect
from typing import Any

from microloop_host.extras import requires
from microloop_host.verdict import GuardLike, OnBlock, bind_args

with requires("crewai", "microloop_host.crewai_adapter", "crewai"):
    from crewai.tools import BaseTool


def guard_tool(g: GuardLike, tool: BaseTool, *, on_block: OnBlock | None = None) -> BaseTool:
    """A copy of a CrewAI tool whose every run is checked by `g` first (same class or a
    subclass of it, same name, description, args schema and settings)."""
    if not isinstance(tool, BaseTool):
        raise TypeError(f"expected a crewai.tools.BaseTool, got {type(tool)!r}")
    func = getattr(tool, "func", None)
    if callable(func):
        # crewai's Tool (from @tool): run(), _run() and arun() all call `func` directly (the
        # native function-calling path calls run()), so guard the function itself
        return tool.model_copy(update={"func": g.verify(func, name=tool.name, on_block=on_block)})

    # any other BaseTool subclass: run()/arun() and the structured tool all go through
    # _run/_arun, so guard those in a subclass made for this copy
    base = type(tool)
    try:
        sig: inspect.Signature | None = inspect.signature(tool._run)
    except (TypeError, ValueError):
        sig = None

    def _run(self: BaseTool, *args: Any, **kwargs: Any) -> Any:
        v = g.check(self.name, bind_args(sig, args, kwargs))
        if not v.allowed:
            return g.blocked(v, on_block)
        try:
            result = base._run(self, *args, **kwargs)
        except Exception as exc:
            g.report(v, False, repr(exc))
            raise
        g.report(v, True, result)
        return result

    async def _arun(self: BaseTool, *args: Any, **kwargs: Any) -> Any:
        v = g.check(self.name, bind_args(sig, args, kwargs))
        if not v.allowed:
            return g.blocked(v, on_block)
        try:
            result = await base._arun(self, *args, **kwargs)
        except (Exception, asyncio.CancelledError) as exc:
            g.report(v, False, repr(exc))
            raise
        g.report(v, True, result)
        return result

    guarded_cls = type(
        f"Guarded{base.__name__}",
        (base,),
        {"_run": _run, "_arun": _arun, "__module__": __name__, "__doc__": base.__doc__},
    )
    guarded = tool.model_copy()
    object.__setattr__(guarded, "__class__", guarded_cls)
    return guarded


__all__ = ["guard_tool"]
