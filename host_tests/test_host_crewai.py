# CrewAI adapter against the real crewai package: Agent + Task + Crew.kickoff() driven by a
# scripted LLM (a BaseLLM subclass, no network), on both of CrewAI's tool paths: the ReAct
# text protocol and native function calling.
from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import Any

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")

import pytest  # noqa: E402
from crewai import Agent, BaseLLM, Crew, Task  # noqa: E402
from crewai.tools import BaseTool, tool  # noqa: E402

from microloop_host import BlockedResult, Guardrail  # noqa: E402

BLOCKED = "BLOCKED by microloop guard"


@pytest.fixture(autouse=True)
def _crewai_data_in_tmp(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    # CrewAI keeps task outputs and a user file under the user's data dir: keep them out of
    # $HOME. The user file also records that the first run's trace-sharing question was
    # answered (no): without it CrewAI asks, and waits 5 s for an answer, on every kickoff.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("CREWAI_STORAGE_DIR", "microloop-host-tests")
    data = tmp_path / "microloop-host-tests"
    data.mkdir()
    (data / ".crewai_user.json").write_text(
        json.dumps({"first_execution_done": True, "trace_consent": False}))


MAX_CALLS = 12  # every scripted run ends by itself within this many LLM calls


class ScriptedLLM(BaseLLM):
    """Answers from a script: f(call number, conversation text) -> ReAct text or a list of
    OpenAI-style tool calls (native function calling)."""

    native: bool = False
    script: Callable[[int, str], Any]
    calls: int = 0

    def call(self, messages: Any, tools: Any = None, callbacks: Any = None,
             available_functions: Any = None, from_task: Any = None, from_agent: Any = None,
             response_model: Any = None, **kwargs: Any) -> Any:
        self.calls += 1
        text = messages if isinstance(messages, str) else json.dumps(messages, default=str)
        if self.calls > MAX_CALLS:
            return "Thought: I now know the final answer\nFinal Answer: bound reached"
        return self.script(self.calls, text)

    def supports_function_calling(self) -> bool:
        return self.native


def react(tool_name: str, args: dict[str, Any]) -> str:
    return f"Thought: next step\nAction: {tool_name}\nAction Input: {json.dumps(args)}"


def native(tool_name: str, args: dict[str, Any], n: int) -> list[dict[str, Any]]:
    return [{"id": f"call_{n}", "type": "function",
             "function": {"name": tool_name, "arguments": json.dumps(args)}}]


FINAL = "Thought: I now know the final answer\nFinal Answer: "


def kickoff(llm: ScriptedLLM, tools: list[BaseTool]) -> str:
    agent = Agent(role="web researcher", goal="read the shop pages", backstory="careful",
                  llm=llm, tools=tools, max_iter=MAX_CALLS + 2, cache=False, verbose=False)
    task = Task(description="Read the shop pages.", expected_output="a summary", agent=agent)
    return str(Crew(agents=[agent], tasks=[task], verbose=False).kickoff())


class OpenPage(BaseTool):
    name: str = "open_page"
    description: str = "Open a web page and return its text."
    runs: list[str] = []

    def _run(self, url: str) -> str:
        self.runs.append(url)
        return "Please verify you are a human (CAPTCHA)" if "shop" in url else f"text of {url}"


def test_react_cycle_is_stopped() -> None:
    # a, b, a, b, a, b with the same CAPTCHA each time. CrewAI itself only refuses an
    # immediate identical repeat (and stops after 5 identical call+result pairs); this
    # 2-cycle is the guard's to stop, at the 6th call.
    def script(n: int, text: str) -> Any:
        if BLOCKED in text:
            return FINAL + "The shop shows a CAPTCHA on every page; a human must solve it."
        return react("open_page", {"url": f"https://shop.example/{'ab'[n % 2]}"})

    inner = OpenPage(runs=[])
    out = kickoff(ScriptedLLM(model="scripted", script=script), [Guardrail().crewai_tool(inner)])
    assert inner.runs == ["https://shop.example/b", "https://shop.example/a"] * 2 + [
        "https://shop.example/b"]
    assert out.startswith("The shop shows a CAPTCHA")


def test_native_retry_storm_is_stopped() -> None:
    # the same call failing with a different error text each time: CrewAI's own repeat check
    # compares results and never fires; the guard's error-loop detector does (4th attempt)
    attempts: list[str] = []

    @tool("fetch_report")
    def fetch_report(url: str) -> str:
        """Download a report."""
        attempts.append(url)
        raise ConnectionError(f"connection refused after {len(attempts) * 100} ms")

    def script(n: int, text: str) -> Any:
        if BLOCKED in text:
            return "The report server is down; I will ask for it to be started."
        return native("fetch_report", {"url": "http://reports.local/q3"}, n)

    guard = Guardrail("default")
    out = kickoff(ScriptedLLM(model="scripted", native=True, script=script),
                  [guard.crewai_tool(fetch_report)])
    assert len(attempts) == 3
    assert out == "The report server is down; I will ask for it to be started."


def test_benign_runs_are_not_disturbed() -> None:
    # ReAct: six different pages, then an answer
    def reader(n: int, text: str) -> Any:
        if n > 6:
            return FINAL + "read six pages"
        return react("open_page", {"url": f"https://docs.example/p{n}"})

    inner = OpenPage(runs=[])
    out = kickoff(ScriptedLLM(model="scripted", script=reader), [Guardrail().crewai_tool(inner)])
    assert out == "read six pages" and len(inner.runs) == 6

    # native: a pager returning new data on each identical call (not consecutive-identical
    # for CrewAI's check either way: native calls are not refused by it)
    pages = iter(range(100))

    @tool("read_output")
    def read_output() -> str:
        """Read the next page of the job's output."""
        return f"line {next(pages)}"

    def pager(n: int, text: str) -> Any:
        if n > 8:
            return "all output read"
        return native("read_output", {}, n)

    out = kickoff(ScriptedLLM(model="scripted", native=True, script=pager),
                  [Guardrail().crewai_tool(read_output)])
    assert out == "all output read" and next(pages) == 8


def test_direct_runs_sync_and_async() -> None:
    guard = Guardrail("strict")

    @tool("ping")
    async def ping(host: str) -> str:
        """Ping a host."""
        return "timeout"

    guarded = guard.crewai_tool(ping)
    assert guarded.name == "ping" and guarded.description == "Ping a host."
    assert asyncio.run(guarded.arun(host="h1")) == "timeout"
    again = asyncio.run(guarded.arun(host="h1"))
    assert isinstance(again, BlockedResult) and again.error.code == 1
    inner = OpenPage(runs=[])
    page = guard.crewai_tool(inner)
    assert page.run(url="https://docs.example/x") == "text of https://docs.example/x"
    assert BLOCKED in page.run(url="https://docs.example/x") and len(inner.runs) == 1
