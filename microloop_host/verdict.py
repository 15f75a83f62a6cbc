# The vocabulary the Guardrail and every adapter share: a Verdict, the "blocked" message a
# model reads, ToolBlocked / BlockedResult, the call's arguments by parameter name, and the
# small interface an adapter uses (GuardLike). It imports no framework and nothing else of
# microloop_host, so the dependencies run one way: guardrail -> adapters -> verdict.
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

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


class GuardLike(Protocol):
    """What an adapter needs of a guard (microloop_host.Guardrail is one)."""

    def check(self, tool: str, args: Any = None) -> Verdict: ...

    def report(self, verdict: Verdict, ok: bool, result: Any = None) -> None: ...

    def blocked(self, verdict: Verdict, on_block: OnBlock | None = None) -> BlockedResult: ...

    def verify(self, fn: Any = None, *, name: str | None = None,
               on_block: OnBlock | None = None) -> Any: ...
