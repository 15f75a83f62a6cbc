# microloop_host.audit.readers.miniswe -- mini-swe-agent trajectories: {"messages": [...],
# "info": {...}, "trajectory_format": "mini-swe-agent-..."} (or the bare list of messages),
# one run a file. Text mode: an
# assistant message with exactly one fenced command block (```bash, ```mswea_bash_command)
# is a `bash` call {"command": ...} (mini-swe-agent runs nothing for zero or several
# blocks), and the next user message is its observation. Tool-call mode (mini-swe-agent 2):
# assistant `tool_calls` and `tool` results, as in OpenAI transcripts. ok=False when the
# observation is mini-swe-agent's timeout message ("... timed out and has been killed") or
# records an exception (`extra.exception_info`); a non-zero <returncode> is a tool that ran
# (ok=True, the return code is part of the observation text).
from __future__ import annotations

import re
from typing import Any

from microloop_host.audit.model import Call, Run, call_of, text_bytes
from microloop_host.audit.readers._source import Source
from microloop_host.audit.readers.openai_chat import Builder

FENCE = re.compile(r"```(?:bash|sh|shell|mswea_bash_command)[ \t]*\n(.*?)\n```", re.DOTALL)
TIMEOUT = "timed out and has been killed"


def looks_like(doc: dict[str, Any]) -> bool:
    """True for a mini-swe-agent trajectory (its markers, or its observation template)."""
    fmt = doc.get("trajectory_format")
    if isinstance(fmt, str) and fmt.startswith("mini-swe-agent"):
        return True
    info = doc.get("info")
    if isinstance(info, dict) and "mini_version" in info:
        return True
    msgs = doc.get("messages")
    if not isinstance(msgs, list):
        return False
    has_calls = any(isinstance(m, dict) and m.get("tool_calls") for m in msgs)
    return not has_calls and any(
        isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str)
        and "<returncode>" in m["content"] for m in msgs)


def _text(content: Any) -> str:
    return text_bytes(content).decode("utf-8") if not isinstance(content, str) else content


def _ok(m: dict[str, Any], text: str) -> bool:
    extra = m.get("extra")
    if isinstance(extra, dict) and extra.get("exception_info"):
        return False
    return TIMEOUT not in text


def read(src: Source) -> list[Run]:
    """One run: the calls in the trajectory's messages."""
    doc = src.document()
    msgs = doc.get("messages") if isinstance(doc, dict) else doc
    if not isinstance(msgs, list):
        raise src.error(None, 'a mini-swe-agent trajectory is a JSON object with a "messages" list')
    run = Run(src.path, src.path, "mini-swe-agent")
    b = Builder(run)
    waiting: int | None = None  # call whose observation is the next user message
    for i, m in enumerate(msgs):
        where = f"messages[{i}]"
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise src.error(None, "a message must be an object with a string role", where)
        role = m["role"]
        if role == "assistant":
            waiting = None
            if b.assistant(m, 0, src, where):
                continue
            blocks = FENCE.findall(_text(m.get("content")))
            if len(blocks) == 1:
                cmd = blocks[0].strip()
                waiting = run.add_call(Call("bash", call_of("bash", {"command": cmd})))
        elif role == "tool":
            text = _text(m.get("content"))
            b.result(m.get("tool_call_id"), _ok(m, text), text_bytes(text), 0)
        elif role == "user" and waiting is not None:
            text = _text(m.get("content"))
            run.report(waiting, _ok(m, text), text_bytes(text))
            waiting = None
    return [run]
