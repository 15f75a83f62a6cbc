# microloop_host.audit.model -- what every log reader produces: runs made of call steps,
# late reports (the outcome of an earlier call, for calls answered out of order) and
# restarts, each carrying the exact bytes the guard checks and the line it came from.
# Mirrors the project's trajectory format (README "Trajectories") so a run exports 1:1.
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from microloop_host.canonical import dumps, to_jsonable


class LogError(ValueError):
    """A log the audit cannot read: names the file and the line (or the JSON path)."""

    def __init__(self, path: str, line: int | None, message: str, where: str = "") -> None:
        self.path = path
        self.line = line
        self.where = where
        loc = f"{path}:{line}" if line is not None else str(path)
        if where:
            loc += f": {where}"
        super().__init__(f"{loc}: {message}")


@dataclass(slots=True)
class Call:
    """One tool call. `ok`/`result` are its outcome when known right after the call
    (None: not reported here; a later Report or nothing)."""

    tool: str
    call: bytes  # the bytes Guard.check() reads: {"tool": ..., "args": ...}
    ok: bool | None = None
    result: bytes = b""
    line: int = 0
    t_ms: int | None = None


@dataclass(slots=True)
class Report:
    """The outcome of call number `index` (counting call steps of the run from 0)."""

    index: int
    ok: bool
    result: bytes = b""
    line: int = 0


@dataclass(slots=True)
class Restart:
    """A new guard from the same policy (a trajectory's {"restart": true})."""

    line: int = 0


Event = Call | Report | Restart


@dataclass
class Run:
    """One agent run: its events in order, where it came from and in which format."""

    path: str
    name: str
    fmt: str
    events: list[Event] = field(default_factory=list)
    n_calls: int = 0

    def add_call(self, c: Call) -> int:
        """Append a call step; returns its call index."""
        self.events.append(c)
        self.n_calls += 1
        return self.n_calls - 1

    def report(self, index: int, ok: bool, result: bytes, line: int = 0) -> None:
        """The outcome of call `index`: folded into the call when nothing came between."""
        last = self.events[-1] if self.events else None
        if (type(last) is Call and index == self.n_calls - 1 and last.ok is None):
            last.ok = ok
            last.result = result
            return
        self.events.append(Report(index, ok, result, line))

    def calls(self) -> list[Call]:
        return [e for e in self.events if type(e) is Call]


def text_bytes(value: Any) -> bytes:
    """The bytes of an observation: str as UTF-8 (lone surrogates escaped), a list of
    content parts ({"type": "text", "text": ...}) joined, anything else as compact JSON."""
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace")
    if isinstance(value, list) and all(isinstance(p, (dict, str)) for p in value):
        parts = [p if isinstance(p, str) else p.get("text") for p in value]
        if all(isinstance(p, str) for p in parts):
            return "".join(parts).encode("utf-8", "backslashreplace")  # type: ignore[arg-type]
    return dumps(to_jsonable(value)).encode("utf-8", "backslashreplace")


def call_of(tool: Any, args: Any) -> bytes:
    """Call bytes for a tool name and parsed args (a dict, normally; anything else reaches
    the guard as is, which refuses a non-object as BAD_ARGS)."""
    name = tool if isinstance(tool, str) else ""
    a = {} if args is None else to_jsonable(args)
    text = '{"tool":' + dumps(name) + ',"args":' + dumps(a) + "}"
    return text.encode("utf-8", "backslashreplace")


def call_of_text(tool: Any, arguments: Any) -> bytes:
    """Call bytes keeping a model's argument text as written (OpenAI `arguments`), the way
    `microloop proxy` checks it: text that is not a JSON object is kept as a JSON string."""
    name = tool if isinstance(tool, str) else ""
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        args = "{}"
    elif isinstance(arguments, str):
        try:
            ok = isinstance(json.loads(arguments), dict)
        except ValueError:
            ok = False
        args = arguments if ok else dumps(arguments)
    else:
        args = dumps(to_jsonable(arguments))
    return ('{"tool":' + dumps(name) + ',"args":' + args + "}").encode("utf-8", "backslashreplace")


def clip(data: bytes | str, n: int = 70) -> str:
    """One line of at most n characters for a human (newlines shown as ⏎)."""
    s = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    s = s.replace("\r", "").replace("\n", "⏎").replace("\t", " ")
    return s if len(s) <= n else s[: n - 1] + "…"
