# AutoGen adapter against the real autogen-agentchat / autogen-core / autogen-ext packages:
# an AssistantAgent's own tool loop (max_tool_iterations) driven by ReplayChatCompletionClient
# (scripted replies, no network), with FunctionTools guarded by GuardedTool or by
# `FunctionTool(guard.verify(fn))`.
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

from autogen_agentchat.agents import AssistantAgent
from autogen_core import CancellationToken, FunctionCall
from autogen_core.models import (
    CreateResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    ModelFamily,
    ModelInfo,
    RequestUsage,
)
from autogen_core.tools import FunctionTool
from autogen_ext.models.replay import ReplayChatCompletionClient

from microloop_host import Guardrail
from microloop_mpy import ERROR_LOOP, reason

BLOCKED = "BLOCKED by microloop guard"
INFO = ModelInfo(vision=False, function_calling=True, json_output=False,
                 family=ModelFamily.UNKNOWN, structured_output=False)
logging.getLogger("autogen_ext").setLevel(logging.ERROR)  # replay client's token-count notes


class PivotingReplayClient(ReplayChatCompletionClient):
    """Replays its script, but answers `pivot` as soon as a tool result says BLOCKED."""

    def __init__(self, script: Sequence[str | CreateResult], pivot: str) -> None:
        super().__init__(list(script), model_info=INFO)
        self.pivot = pivot

    async def create(self, messages: Sequence[LLMMessage], **kwargs: Any) -> CreateResult:
        for m in messages:
            if isinstance(m, FunctionExecutionResultMessage) and any(
                    BLOCKED in r.content for r in m.content):
                return CreateResult(content=self.pivot, finish_reason="stop", cached=False,
                                    usage=RequestUsage(prompt_tokens=0, completion_tokens=0))
        return await super().create(messages, **kwargs)


def calls(*pairs: tuple[str, dict[str, Any]], n: int = 0) -> CreateResult:
    content = [FunctionCall(id=f"c{n}_{i}", name=name, arguments=json.dumps(args))
               for i, (name, args) in enumerate(pairs)]
    return CreateResult(content=content, finish_reason="function_calls", cached=False,
                        usage=RequestUsage(prompt_tokens=0, completion_tokens=0))


def results(messages: Sequence[Any]) -> list[Any]:
    return [r for m in messages if type(m).__name__ == "ToolCallExecutionEvent"
            for r in m.content]


def test_loop_is_stopped_and_the_agent_pivots() -> None:
    runs: list[str] = []

    def open_page(url: str) -> str:
        runs.append(url)
        return "Please verify you are a human (CAPTCHA)"

    guard = Guardrail("default")
    tool = guard.autogen_tool(FunctionTool(open_page, description="Open a web page."))
    script = [calls(("open_page", {"url": "https://shop.example/7"}), n=i) for i in range(8)]
    client = PivotingReplayClient(script + ["unused"], pivot="CAPTCHA wall: asking the user.")
    agent = AssistantAgent("shopper", model_client=client, tools=[tool], max_tool_iterations=10)
    result = asyncio.run(agent.run(task="buy item 7"))
    res = results(result.messages)
    assert runs == ["https://shop.example/7"] * 2
    assert [BLOCKED in r.content for r in res] == [False, False, True]
    assert result.messages[-1].content == "CAPTCHA wall: asking the user."


def test_verify_decorated_function_tool_and_parallel_calls() -> None:
    # FunctionTool over an async guard.verify function; two calls per model turn, which
    # AssistantAgent runs concurrently. The pages change between rounds: a benign run.
    guard = Guardrail("default")
    version = {"n": 0}
    runs: list[str] = []

    @guard.verify
    async def read_page(url: str, cancellation_token: CancellationToken) -> str:
        await asyncio.sleep(0)
        runs.append(url)
        return f"{url} v{version['n']}"

    def publish(page: str) -> str:
        version["n"] += 1
        return f"published {page} as v{version['n']}"

    tools = [FunctionTool(read_page, description="Read a page."),
             guard.autogen_tool(FunctionTool(publish, description="Publish a page."))]
    assert tools[0].schema["parameters"]["required"] == ["url"]
    script: list[str | CreateResult] = []
    for i in range(4):
        script.append(calls(("read_page", {"url": "/a"}), ("read_page", {"url": "/b"}), n=i))
        script.append(calls(("publish", {"page": f"/a#{i}"}), n=10 + i))
    client = PivotingReplayClient(script + ["all pages published"], pivot="unexpected block")
    agent = AssistantAgent("editor", model_client=client, tools=tools, max_tool_iterations=20)
    result = asyncio.run(agent.run(task="publish"))
    assert not any(BLOCKED in r.content for r in results(result.messages))
    assert sorted(runs) == ["/a"] * 4 + ["/b"] * 4
    assert result.messages[-1].content == "all pages published"


def test_failing_tool_is_an_error_loop() -> None:
    attempts: list[int] = []

    async def start_job(name: str) -> str:
        attempts.append(1)
        raise RuntimeError(f"queue full (position {len(attempts) * 7})")

    guard = Guardrail("default", on_block="raise")
    tool = guard.autogen_tool(FunctionTool(start_job, description="Start a job."))
    script = [calls(("start_job", {"name": "nightly"}), n=i) for i in range(6)]
    client = PivotingReplayClient(script + ["unused"], pivot="The queue stays full; stopping.")
    agent = AssistantAgent("ops", model_client=client, tools=[tool], max_tool_iterations=10)
    result = asyncio.run(agent.run(task="start the nightly job"))
    res = results(result.messages)
    # three failures with changing text, then the 4th attempt is refused (raise mode: the
    # agent sees it as a tool error carrying the message)
    assert len(attempts) == 3 and [r.is_error for r in res] == [True] * 4
    assert BLOCKED in res[-1].content and reason(ERROR_LOOP) in res[-1].content
    assert result.messages[-1].content == "The queue stays full; stopping."


def test_direct_run_json_keeps_schema_and_returns_block() -> None:
    guard = Guardrail("strict")
    def ping(host: str) -> str:
        return "timeout"

    inner = FunctionTool(ping, description="Ping.")
    tool = guard.autogen_tool(inner)
    assert tool.schema == inner.schema and tool.name == "ping"
    token = CancellationToken()
    assert asyncio.run(tool.run_json({"host": "h"}, token)) == "timeout"
    blocked = asyncio.run(tool.run_json({"host": "h"}, token))
    assert BLOCKED in tool.return_value_as_string(blocked)
