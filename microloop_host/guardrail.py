# Host-side guard for Python agents: one microloop_mpy.Guard behind a lock, a `verify`
# decorator for sync and async tools, and the "blocked" message a model reads.
# It must never run a blocked call, never change the verdict the core gives, and never let
# one thread's check and outcome interleave with another's inside the core.
from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from microloop_host.canonical import call_bytes, result_bytes
from microloop_host.policy import load_policy

OnBlock = Literal["return", "raise"]

# Parameters a framework injects into a tool function (not chosen by the model). They are
# left out of the call's identity: they differ on every call (run ids, callbacks) and would
# hide every loop. Matched by parameter name, or by the annotation's text.
INJECTED_NAMES = frozenset({"run_manager", "callbacks", "config", "cancellation_token"})
# the instance of a guarded method is not an argument the model chose either
RECEIVER_NAMES = frozenset({"self", "cls"})
INJECTED_ANNOTATIONS = (
    "RunnableConfig",
    "CallbackManager",
    "AsyncCallbackManager",
    "Injected",  # InjectedToolArg, InjectedState, InjectedStore, InjectedToolCallId
    "ToolRuntime",
    "CancellationToken",
)


@dataclass(frozen=True)
class Verdict:
    """What the guard said about one call; keep it to report the call's outcome."""

    tool: str
    args: Any
    code: int
    reason: str
    rule_index: int = -1
    entry: int = -1
    # the exact bytes the core checked (what an outcome refers to)
    call: bytes = field(default=b"", repr=False)

    @property
    def allowed(self) -> bool:
        return self.code == 0


class ToolBlocked(Exception):
    """A tool call the guard refused. `str(exc)` is the message for the model."""

    def __init__(self, verdict: Verdict):
        self.verdict = verdict
        self.tool = verdict.tool
        self.code = verdict.code
        self.reason = verdict.reason
        self.rule_index = verdict.rule_index
        super().__init__(blocked_message(verdict))

    @property
    def message(self) -> str:
        return str(self)


class BlockedResult(str):
    """The return value of a blocked call in "return" mode: the message, as a str, with the
    `ToolBlocked` it came from in `.error` (so code can test `isinstance(x, BlockedResult)`)."""

    error: ToolBlocked

    def __new__(cls, error: ToolBlocked) -> BlockedResult:
        obj = super().__new__(cls, str(error))
        obj.error = error
        return obj


def blocked_message(v: Verdict) -> str:
    rule = f", policy rule #{v.rule_index}" if v.rule_index >= 0 else ""
    return (
        f"BLOCKED by microloop guard: the call to tool '{v.tool}' was NOT executed "
        f"(reason: {v.reason}; code {v.code}{rule}). "
        "Do not repeat this call. Change strategy: use different arguments or a different "
        "tool, or stop and explain the problem to the user."
    )


def _injected(param: inspect.Parameter) -> bool:
    if param.name in INJECTED_NAMES:
        return True
    ann = param.annotation
    if ann is inspect.Parameter.empty:
        return False
    text = ann if isinstance(ann, str) else repr(ann)
    return any(marker in text for marker in INJECTED_ANNOTATIONS)


def bind_args(sig: inspect.Signature | None, args: tuple, kwargs: dict) -> dict[str, Any]:
    """The call's arguments by parameter name (defaults applied, injected ones left out)."""
    if sig is None:
        out = dict(kwargs)
        if args:
            out["*args"] = list(args)
        return out
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError:
        # the function will raise the same TypeError; still check what was passed
        return bind_args(None, args, kwargs)
    bound.apply_defaults()
    out: dict[str, Any] = {}
    first = next(iter(sig.parameters), None)
    for name, value in bound.arguments.items():
        param = sig.parameters[name]
        if _injected(param) or (name == first and name in RECEIVER_NAMES):
            continue
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            out.update({k: v for k, v in value.items() if k not in INJECTED_NAMES})
        elif param.kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                out[name] = list(value)
        else:
            out[name] = value
    return out


def _finish(wrapper: Any, fn: Callable[..., Any], guardrail: Guardrail) -> Any:
    # functools.wraps copied the annotations, but as written: with `from __future__ import
    # annotations` they are strings, and a framework that resolves them against the
    # wrapper's module (AutoGen's FunctionTool does) would fail. Hand it resolved types.
    try:
        wrapper.__annotations__ = typing.get_type_hints(fn, include_extras=True)
    except Exception:
        pass  # unresolvable here too: leave them as they were
    wrapper.__microloop_guardrail__ = guardrail
    return wrapper


class Guardrail:
    """One loop/rule guard for one agent (or one task) on CPython.

    `policy` is a path to a JSON file, a dict, a preset name ("strict", "default",
    "lenient") or None (the core's defaults). `on_block` says what a blocked call does in
    `verify`: "return" the message (a `BlockedResult` str) or "raise" `ToolBlocked`.
    """

    def __init__(
        self,
        policy: str | Path | Mapping[str, Any] | None = "default",
        *,
        on_block: OnBlock = "return",
    ) -> None:
        from microloop_mpy import Guard  # the portable core

        if on_block not in ("return", "raise"):
            raise ValueError("on_block must be 'return' or 'raise'")
        self.policy: dict[str, Any] | None = load_policy(policy)
        self.on_block: OnBlock = on_block
        self._guard = Guard(self.policy)  # ValueError on a bad policy
        self._lock = threading.Lock()
        # rule_index() comes with the rule engine; a core without it has no rule to name
        self._rule_index: Callable[[], int] = getattr(self._guard, "rule_index", lambda: -1)

    # -- the two calls every adapter makes -------------------------------------------------
    def check(self, tool: str, args: Any = None) -> Verdict:
        """Check one call. `args` is a dict (None means {}); anything else is refused by the
        core as BAD_ARGS, since a call's args must be a JSON object."""
        buf = call_bytes(tool, {} if args is None else args)
        return self.check_bytes(buf, tool, args)

    def check_bytes(self, buf: bytes, tool: str = "?", args: Any = None) -> Verdict:
        """Check a call already serialized as `{"tool": ..., "args": ...}` bytes."""
        g = self._guard
        with self._lock:
            code = g.check(buf)
            entry = g.last_entry() if code == 0 else -1
            reason = g.reason(code) if code else "allowed"
            rule = self._rule_index() if code else -1
        return Verdict(tool, args, code, reason, rule, entry, buf)

    def report(self, verdict: Verdict, ok: bool, result: Any = None) -> None:
        """Feed back how an allowed call went: ok=False only when the tool itself failed
        (raised, timed out, did not run). A returned error message is ok=True."""
        if not verdict.allowed or verdict.entry < 0:
            return
        data = result_bytes(result)
        with self._lock:
            self._guard.outcome(bool(ok), data, 0, len(data), verdict.entry)

    def reset(self) -> None:
        """Forget the loop history (a new task). Rule budgets are kept by the core."""
        with self._lock:
            self._guard.reset()

    @property
    def guard(self) -> Any:
        """The underlying microloop_mpy.Guard (take `lock` before touching it directly)."""
        return self._guard

    @property
    def lock(self) -> threading.Lock:
        return self._lock

    def blocked(self, verdict: Verdict, on_block: OnBlock | None = None) -> BlockedResult:
        """What a blocked call gives back: raises ToolBlocked in "raise" mode."""
        err = ToolBlocked(verdict)
        if (on_block or self.on_block) == "raise":
            raise err
        return BlockedResult(err)

    # -- decorator -------------------------------------------------------------------------
    def verify(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        on_block: OnBlock | None = None,
    ) -> Any:
        """Guard a tool function (sync or async): `@guard.verify` or
        `@guard.verify(name="tool_name", on_block="raise")`.

        The wrapper keeps the function's name, docstring, annotations and signature (for
        LangChain's `@tool`, CrewAI's `@tool`, AutoGen's `FunctionTool`)."""
        if fn is None:
            return functools.partial(self.verify, name=name, on_block=on_block)
        tool_name = name or getattr(fn, "__name__", None) or "tool"
        try:
            sig: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            sig = None

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def averified(*args: Any, **kwargs: Any) -> Any:
                v = self.check(tool_name, bind_args(sig, args, kwargs))
                if not v.allowed:
                    return self.blocked(v, on_block)
                try:
                    result = await fn(*args, **kwargs)
                except (Exception, asyncio.CancelledError) as exc:
                    # a cancelled tool (a timeout around it) did not finish: a failure
                    self.report(v, False, repr(exc))
                    raise
                self.report(v, True, result)
                return result

            return _finish(averified, fn, self)

        @functools.wraps(fn)
        def verified(*args: Any, **kwargs: Any) -> Any:
            v = self.check(tool_name, bind_args(sig, args, kwargs))
            if not v.allowed:
                return self.blocked(v, on_block)
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                self.report(v, False, repr(exc))
                raise
            self.report(v, True, result)
            return result

        return _finish(verified, fn, self)

    # -- framework adapters (imported lazily: each framework is optional) -------------------
    def langchain_tool(self, tool: Any, *, on_block: OnBlock | None = None) -> Any:
        from microloop_host.langchain_adapter import guard_tool

        return guard_tool(self, tool, on_block=on_block)

    def langchain_middleware(self) -> Any:
        from microloop_host.langchain_adapter import GuardrailMiddleware

        return GuardrailMiddleware(self)

    def tool_node(self, tools: Any, **kwargs: Any) -> Any:
        from microloop_host.langgraph_adapter import guarded_tool_node

        return guarded_tool_node(self, tools, **kwargs)

    def crewai_tool(self, tool: Any, *, on_block: OnBlock | None = None) -> Any:
        from microloop_host.crewai_adapter import guard_tool

        return guard_tool(self, tool, on_block=on_block)

    def autogen_tool(self, tool: Any, *, on_block: OnBlock | None = None) -> Any:
        from microloop_host.autogen_adapter import GuardedTool

        return GuardedTool(self, tool, on_block=on_block)
