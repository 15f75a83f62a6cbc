# LangChain adapter against the real langchain-core / langchain packages: tools guarded by
# `@tool @guard.verify`, by `guard.langchain_tool(tool)` and by the agent middleware, each in a
# real `create_agent` loop driven by a scripted chat model (no network).
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool, ToolException, tool

from microloop_host import BlockedResult, Guardrail, ToolBlocked
from microloop_mpy import ERROR_LOOP, IDENTICAL, reason

CAPTCHA = "Please verify you are a human: CAPTCHA #4411"
BLOCKED = "BLOCKED by microloop guard"
MAX_TURNS = 12  # every scripted run stops by itself within this many model turns


class ScriptedChatModel(BaseChatModel):
    """A chat model whose answer is a function of the conversation so far."""

    script: Callable[[list[BaseMessage]], AIMessage]

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self.script(messages))])

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self


def _turn(messages: list[BaseMessage]) -> int:
    return sum(isinstance(m, AIMessage) for m in messages)


def _call(name: str, args: dict[str, Any], n: int) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call_{n}"}])


def captcha_looper(messages: list[BaseMessage]) -> AIMessage:
    """Re-opens the same page forever; pivots (gives up) once it reads a block message."""
    last, n = messages[-1], _turn(messages)
    if isinstance(last, ToolMessage) and BLOCKED in str(last.content):
        return AIMessage("The shop keeps showing a CAPTCHA, so I stopped and am asking you.")
    if n >= MAX_TURNS:
        return AIMessage("bound reached")
    return _call("open_page", {"url": "https://shop.example/item/7"}, n)


def pager(messages: list[BaseMessage]) -> AIMessage:
    """Reads 8 pages of a log with identical calls; every page brings new data."""
    n = _turn(messages)
    if n >= 8:
        return AIMessage("Read the whole log.")
    return _call("read_output", {}, n)


def reader(messages: list[BaseMessage]) -> AIMessage:
    """Opens five different pages, then answers."""
    n = _turn(messages)
    if n >= 5:
        return AIMessage("Done: five pages read.")
    return _call("open_page", {"url": f"https://docs.example/p{n}"}, n)


def _tool_messages(result: dict[str, Any]) -> list[ToolMessage]:
    return [m for m in result["messages"] if isinstance(m, ToolMessage)]


def _run(agent: Any, prompt: str = "go") -> dict[str, Any]:
    return agent.invoke({"messages": [("user", prompt)]}, {"recursion_limit": 4 * MAX_TURNS})


def _verified_tools(guard: Guardrail, runs: list[str]) -> list[BaseTool]:
    @tool
    @guard.verify
    def open_page(url: str) -> str:
        """Open a web page and return its text."""
        runs.append(url)
        return CAPTCHA if "shop" in url else f"content of {url}"

    page = iter(range(100))

    @tool
    @guard.verify
    def read_output() -> str:
        """Read the next page of the build log."""
        runs.append("read_output")
        return f"log page {next(page)}: compiling module {next(page)}"

    return [open_page, read_output]


def test_verify_keeps_the_tool_schema_for_langchain() -> None:
    guard = Guardrail("default")
    open_page, _ = _verified_tools(guard, [])
    assert open_page.name == "open_page"
    assert open_page.description == "Open a web page and return its text."
    assert list(open_page.args) == ["url"]
    url = "https://docs.example/a"
    assert open_page.invoke({"url": url}) == f"content of {url}"


def test_loop_is_stopped_in_a_create_agent_run() -> None:
    runs: list[str] = []
    guard = Guardrail("default")
    agent = create_agent(ScriptedChatModel(script=captcha_looper), _verified_tools(guard, runs))
    result = _run(agent)
    msgs = _tool_messages(result)
    # identical call, identical CAPTCHA twice: the third is blocked before it runs
    assert runs == ["https://shop.example/item/7"] * 2
    assert [BLOCKED in str(m.content) for m in msgs] == [False, False, True]
    assert reason(IDENTICAL) in str(msgs[-1].content)
    assert result["messages"][-1].content.startswith("The shop keeps showing a CAPTCHA")


def test_benign_runs_are_not_disturbed() -> None:
    runs: list[str] = []
    guard = Guardrail("default")
    tools = _verified_tools(guard, runs)
    result = _run(create_agent(ScriptedChatModel(script=reader), tools))
    assert len(runs) == 5 and not any(BLOCKED in str(m.content) for m in _tool_messages(result))
    assert result["messages"][-1].content == "Done: five pages read."
    # a pager: the same call 8 times, but every result is new -> not a loop
    runs.clear()
    result = _run(create_agent(ScriptedChatModel(script=pager), tools))
    assert runs == ["read_output"] * 8
    assert not any(BLOCKED in str(m.content) for m in _tool_messages(result))


class OpenPage(BaseTool):
    """A hand-written BaseTool subclass (not a decorated function)."""

    name: str = "open_page"
    description: str = "Open a web page and return its text."
    runs: list[str] = []

    def _run(self, url: str) -> str:
        self.runs.append(url)
        return CAPTCHA

    async def _arun(self, url: str) -> str:
        self.runs.append(url)
        await asyncio.sleep(0)
        return CAPTCHA


def test_guarded_base_tool_subclass_sync_and_async() -> None:
    guard = Guardrail("default")
    inner = OpenPage(runs=[])
    guarded = guard.langchain_tool(inner)
    assert isinstance(guarded, OpenPage) and guarded.name == "open_page"
    schema = inner.tool_call_schema.model_json_schema()
    assert guarded.tool_call_schema.model_json_schema() == schema
    agent = create_agent(ScriptedChatModel(script=captcha_looper), [guarded])
    result = asyncio.run(agent.ainvoke({"messages": [("user", "go")]}))
    assert inner.runs == guarded.runs == ["https://shop.example/item/7"] * 2
    last = _tool_messages(result)[-1]
    assert last.status == "error" and BLOCKED in str(last.content)
    # called directly (no tool call id): the block message comes back as a BlockedResult
    out = guarded.invoke({"url": "https://shop.example/item/7"})
    assert isinstance(out, BlockedResult) and out.error.code == 1


def test_middleware_guards_every_tool_of_an_agent() -> None:
    runs: list[str] = []

    @tool
    def open_page(url: str) -> str:
        """Open a web page and return its text."""
        runs.append(url)
        return CAPTCHA

    guard = Guardrail("default")
    agent = create_agent(ScriptedChatModel(script=captcha_looper), [open_page],
                         middleware=[guard.langchain_middleware()])
    msgs = _tool_messages(_run(agent))
    assert len(runs) == 2 and BLOCKED in str(msgs[-1].content) and msgs[-1].status == "error"
    # the async path of the same middleware
    runs.clear()
    guard.reset()
    result = asyncio.run(agent.ainvoke({"messages": [("user", "go")]}))
    assert len(runs) == 2 and BLOCKED in str(_tool_messages(result)[-1].content)


def test_failures_are_reported_as_failed_outcomes() -> None:
    # a tool that raises (ToolException handled by LangChain: the model reads the error)
    # three times in a row with nothing else in between is an error loop, even though its
    # error text changes every time
    attempts: list[int] = []

    @tool
    def fetch(url: str) -> str:
        """Fetch a URL."""
        attempts.append(1)
        raise ToolException(f"connection refused (attempt {len(attempts)})")

    fetch.handle_tool_error = True
    guard = Guardrail("default")
    guarded = guard.langchain_tool(fetch)
    outs = [guarded.invoke({"type": "tool_call", "name": "fetch", "id": f"c{i}",
                            "args": {"url": "http://localhost:9/"}}) for i in range(4)]
    assert len(attempts) == 3
    assert [o.status for o in outs] == ["error"] * 4
    assert BLOCKED in str(outs[3].content) and reason(ERROR_LOOP) in str(outs[3].content)


def test_raise_mode_raises_tool_blocked() -> None:
    guard = Guardrail("strict", on_block="raise")

    @tool
    @guard.verify
    def ping(host: str) -> str:
        """Ping a host."""
        return "timeout"

    assert ping.invoke({"host": "10.0.0.1"}) == "timeout"
    with pytest.raises(ToolBlocked) as info:
        ping.invoke({"host": "10.0.0.1"})  # strict: no identical call in a row
    assert info.value.code == 1 and info.value.tool == "ping" and BLOCKED in str(info.value)
