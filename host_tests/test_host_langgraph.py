# LangGraph adapter against the real langgraph package: a hand-built StateGraph (agent node ->
# guarded ToolNode -> agent ...) driven by a scripted chat model, including parallel tool
# calls, which ToolNode runs on threads (outcomes are reported by history entry).
from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from microloop_host import Guardrail
from microloop_mpy import CYCLE, reason

BLOCKED = "BLOCKED by microloop guard"
MAX_TURNS = 12


class ScriptedChatModel(BaseChatModel):
    script: Callable[[list[BaseMessage]], AIMessage]

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self.script(messages))])


def build_graph(model: BaseChatModel, node: ToolNode) -> Any:
    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    g = StateGraph(MessagesState)
    g.add_node("agent", agent)
    g.add_node("tools", node)
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", tools_condition)
    g.add_edge("tools", "agent")
    return g.compile()


def _turn(messages: list[BaseMessage]) -> int:
    return sum(isinstance(m, AIMessage) for m in messages)


def status_poller(messages: list[BaseMessage]) -> AIMessage:
    """Checks two services in parallel, round after round; both stay down. Pivots once a
    tool result says it was blocked."""
    n = _turn(messages)
    if any(isinstance(m, ToolMessage) and BLOCKED in str(m.content) for m in messages):
        return AIMessage("Both services stay down; escalating to a human.")
    if n >= MAX_TURNS:
        return AIMessage("bound reached")
    return AIMessage("", tool_calls=[
        {"name": "check_status", "args": {"service": "db"}, "id": f"db_{n}"},
        {"name": "check_status", "args": {"service": "web"}, "id": f"web_{n}"},
    ])


def deployer(messages: list[BaseMessage]) -> AIMessage:
    """A benign run: each round checks both services; a deploy step in between changes what
    they report."""
    n = _turn(messages)
    if n >= 6:
        return AIMessage("All deployed.")
    if n % 2:
        return AIMessage("", tool_calls=[{"name": "deploy", "args": {"step": n}, "id": f"d{n}"}])
    return AIMessage("", tool_calls=[
        {"name": "check_status", "args": {"service": "db"}, "id": f"db_{n}"},
        {"name": "check_status", "args": {"service": "web"}, "id": f"web_{n}"},
    ])


def make_tools(runs: list[str]) -> list[Any]:
    lock = threading.Lock()
    deployed = [0]

    @tool
    def check_status(service: str) -> str:
        """Check a service's status."""
        with lock:
            runs.append(service)
        return f"{service}: down (deploys so far: {deployed[0]})"

    @tool
    def deploy(step: int) -> str:
        """Run one deploy step."""
        deployed[0] += 1
        runs.append(f"deploy {step}")
        return f"step {step} ok"

    return [check_status, deploy]


def test_parallel_cycle_is_stopped() -> None:
    runs: list[str] = []
    guard = Guardrail("default")
    app = build_graph(ScriptedChatModel(script=status_poller), guard.tool_node(make_tools(runs)))
    result = app.invoke({"messages": [("user", "are we up?")]}, {"recursion_limit": 50})
    tool_msgs = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    # db web | db web | db web: the 6th entry completes three repeats of a 2-cycle with
    # unchanged outcomes. Parallel order varies, so exactly one of round 3 is blocked.
    assert len(tool_msgs) == 6
    blocked = [m for m in tool_msgs if BLOCKED in str(m.content)]
    assert len(blocked) == 1 and blocked[0].status == "error"
    assert blocked[0].tool_call_id.endswith("_2") and reason(CYCLE) in str(blocked[0].content)
    assert sorted(runs) == ["db"] * 3 + ["web"] * 2 or sorted(runs) == ["db"] * 2 + ["web"] * 3
    assert result["messages"][-1].content == "Both services stay down; escalating to a human."


def test_benign_parallel_run_is_untouched_async() -> None:
    runs: list[str] = []
    guard = Guardrail("default")
    app = build_graph(ScriptedChatModel(script=deployer), guard.tool_node(make_tools(runs)))
    result = asyncio.run(app.ainvoke({"messages": [("user", "deploy")]}, {"recursion_limit": 50}))
    tool_msgs = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert not any(BLOCKED in str(m.content) for m in tool_msgs)
    assert runs.count("db") == 3 and runs.count("web") == 3 and runs.count("deploy 1") == 1
    assert result["messages"][-1].content == "All deployed."


def test_own_wrapper_runs_inside_the_guard() -> None:
    seen: list[str] = []

    def my_wrapper(request: Any, execute: Any) -> Any:
        seen.append(request.tool_call["args"]["service"])
        return execute(request)

    runs: list[str] = []
    guard = Guardrail("strict")
    g = StateGraph(MessagesState)
    g.add_node("tools", guard.tool_node(make_tools(runs), wrap_tool_call=my_wrapper))
    g.add_edge(START, "tools")
    g.add_edge("tools", END)
    app = g.compile()
    call = {"name": "check_status", "args": {"service": "db"}, "id": "x", "type": "tool_call"}
    first = app.invoke({"messages": [AIMessage("", tool_calls=[call])]})
    second = app.invoke({"messages": [AIMessage("", tool_calls=[dict(call, id="y")])]})
    assert BLOCKED not in first["messages"][-1].content
    assert BLOCKED in second["messages"][-1].content
    # the blocked call reached neither the user's wrapper nor the tool
    assert seen == ["db"] and runs == ["db"]


def test_raise_mode_ends_the_graph_run() -> None:
    from microloop_host import ToolBlocked

    runs: list[str] = []
    guard = Guardrail("strict", on_block="raise")
    g = StateGraph(MessagesState)
    g.add_node("tools", guard.tool_node(make_tools(runs)))
    g.add_edge(START, "tools")
    g.add_edge("tools", END)
    app = g.compile()
    call = {"name": "check_status", "args": {"service": "db"}, "id": "x", "type": "tool_call"}
    app.invoke({"messages": [AIMessage("", tool_calls=[call])]})
    try:
        app.invoke({"messages": [AIMessage("", tool_calls=[dict(call, id="y")])]})
    except ToolBlocked as exc:
        assert exc.code == 1 and exc.tool == "check_status"
    else:
        raise AssertionError("the blocked call did not end the run")
    assert runs == ["db"]
