# AutoGen adapter (autogen-agentchat / autogen-core 0.4+): a tool wrapper that checks each
# call the model made, with the arguments exactly as the model sent them (run_json), before
# the wrapped tool (a FunctionTool or any BaseTool) runs. A blocked call never runs; the agent
# gets the block message as the tool's result. Needs autogen-core.
from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from microloop_host.extras import requires
from microloop_host.verdict import GuardLike, OnBlock

with requires("autogen", "microloop_host.autogen_adapter", "autogen_core", "pydantic"):
    from autogen_core import CancellationToken
    from autogen_core.tools import BaseTool, ToolSchema
    from pydantic import BaseModel


class GuardedTool(BaseTool[BaseModel, Any]):
    """`GuardedTool(guard, FunctionTool(fn, description=...))`: use it wherever the tool
    was used (`AssistantAgent(tools=[...])`, a StaticWorkbench)."""

    def __init__(self, guardrail: GuardLike, tool: BaseTool[Any, Any],
                 *, on_block: OnBlock | None = None) -> None:
        if not isinstance(tool, BaseTool):
            raise TypeError(f"expected an autogen_core BaseTool, got {type(tool)!r}")
        super().__init__(tool.args_type(), tool.return_type(), tool.name, tool.description)
        self.inner = tool
        self.guardrail = guardrail
        self.on_block = on_block

    @property
    def schema(self) -> ToolSchema:
        return self.inner.schema  # the model sees the wrapped tool's schema, strict flag too

    def return_value_as_string(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        return self.inner.return_value_as_string(value)

    async def run(self, args: BaseModel, cancellation_token: CancellationToken) -> Any:
        # called by run_json below, or directly by code that validated args itself
        return await self.run_json(args.model_dump(mode="json"), cancellation_token)

    async def run_json(self, args: Mapping[str, Any], cancellation_token: CancellationToken,
                       call_id: str | None = None) -> Any:
        g = self.guardrail
        v = g.check(self.name, dict(args))
        if not v.allowed:
            return g.blocked(v, self.on_block)
        try:
            result = await self.inner.run_json(args, cancellation_token, call_id=call_id)
        except (Exception, asyncio.CancelledError) as exc:
            g.report(v, False, repr(exc))
            raise
        g.report(v, True, self.inner.return_value_as_string(result))
        return result

    async def save_state_json(self) -> Mapping[str, Any]:
        return await self.inner.save_state_json()

    async def load_state_json(self, state: Mapping[str, Any]) -> None:
        await self.inner.load_state_json(state)


__all__ = ["GuardedTool"]
