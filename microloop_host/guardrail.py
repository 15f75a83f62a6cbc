# Host-side guard for Python agents: one microloop_mpy.Guard behind a lock, a `verify`
# decorator for sync and async tools, and the "blocked" message a model reads.
# It must never run a blocked call, never change the verdict the core gives, and never let
# one thread's check and outcome interleave with another's inside the core.
# Imports one way: this module -> the adapters (only inside the method that needs one) ->
# microloop_host.verdict; no adapter imports this module, and importing it imports no framework.
from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from microloop_host.canonical import call_bytes, result_bytes
from microloop_host.extras import need_for_policy
from microloop_host.policy import load_policy
from microloop_host.verdict import (  # noqa: F401  (re-exported: their old home)
    INJECTED_ANNOTATIONS,
    INJECTED_NAMES,
    RECEIVER_NAMES,
    BlockedResult,
    OnBlock,
    ToolBlocked,
    Verdict,
    bind_args,
    blocked_message,
)


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
        need_for_policy(self.policy, 'a policy with "schema" rules')
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
