# microloop_host.audit.readers.openai_chat -- OpenAI chat transcripts, as agents send them
# and `microloop proxy` sees them: a JSON object {"messages": [...]}, a JSON array of
# messages, JSON Lines of {"messages": [...]} (one run a line) or of single messages (one
# run a file). Each assistant `tool_calls` entry (and legacy `function_call`) is a call,
# checked in order with the model's argument text as written; each `tool` message (legacy
# `function`) reports the outcome of the call with its `tool_call_id`. The format has no
# failure flag: every result is ok=True, as in the proxy.
from __future__ import annotations

from typing import Any

from microloop_host.audit.model import Call, Run, call_of_text, text_bytes
from microloop_host.audit.readers._source import Source

_LEGACY = "__function_call__"


class Builder:
    """Feeds messages into a run; shared with the mini-swe-agent reader's tool-call mode."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.pending: dict[Any, int] = {}

    def assistant(self, m: dict[str, Any], line: int, src: Source, where: str) -> int:
        """Adds the message's tool calls; returns how many it had."""
        tcs = m.get("tool_calls")
        if tcs is not None and not isinstance(tcs, list):
            raise src.error(line or None, "tool_calls must be a list", where)
        n = 0
        for j, tc in enumerate(tcs or []):
            if not isinstance(tc, dict):
                raise src.error(line or None, "a tool call must be an object",
                                f"{where}.tool_calls[{j}]")
            fn = tc.get("function")
            fn = fn if isinstance(fn, dict) else {}
            name = fn.get("name") if isinstance(fn.get("name"), str) else ""
            k = self.run.add_call(Call(name or "?", call_of_text(name, fn.get("arguments")),
                                       line=line))
            if tc.get("id") is not None:
                self.pending[tc.get("id")] = k
            n += 1
        fc = m.get("function_call")
        if isinstance(fc, dict):
            name = fc.get("name") if isinstance(fc.get("name"), str) else ""
            self.pending[_LEGACY] = self.run.add_call(
                Call(name or "?", call_of_text(name, fc.get("arguments")), line=line))
            n += 1
        return n

    def result(self, call_id: Any, ok: bool, data: bytes, line: int) -> None:
        k = self.pending.pop(call_id, None)
        if k is not None:
            self.run.report(k, ok, data, line)


def add_messages(run: Run, messages: Any, src: Source, line: int, where: str) -> None:
    """Adds one transcript's messages to `run` (line: the JSON line, 0 in a document)."""
    if not isinstance(messages, list):
        raise src.error(line or None, "messages must be a list", where)
    b = Builder(run)
    for i, m in enumerate(messages):
        add_message(b, m, src, line, f"{where}[{i}]" if where else "")


def add_message(b: Builder, m: Any, src: Source, line: int, where: str) -> None:
    if not isinstance(m, dict) or not isinstance(m.get("role"), str):
        raise src.error(line or None, "a message must be an object with a string role", where)
    role = m["role"]
    if role == "assistant":
        b.assistant(m, line, src, where)
    elif role == "tool":
        b.result(m.get("tool_call_id"), True, text_bytes(m.get("content")), line)
    elif role == "function":
        b.result(_LEGACY, True, text_bytes(m.get("content")), line)


def read(src: Source) -> list[Run]:
    """The runs of an OpenAI chat log (see the module comment for the shapes)."""
    base = src.path
    if src.is_document():
        doc = src.document()
        run = Run(src.path, base, "openai")
        if isinstance(doc, dict):
            add_messages(run, doc.get("messages"), src, 0, "messages")
        else:
            add_messages(run, doc, src, 0, "")
        return [run]
    runs: list[Run] = []
    single: Builder | None = None
    for n, v in src.lines():
        if isinstance(v, dict) and "messages" in v:
            run = Run(src.path, f"{base}:{n}", "openai")
            add_messages(run, v["messages"], src, n, "messages")
            runs.append(run)
        else:
            if single is None:
                single = Builder(Run(src.path, base, "openai"))
                runs.append(single.run)
            add_message(single, v, src, n, "")
    return runs
