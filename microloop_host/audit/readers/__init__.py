# microloop_host.audit.readers -- one reader per log format, and the detection that picks
# one from the content (never from the file name). Each reader turns a file into runs of
# call steps whose bytes are what the guard checks (README "Audit" has the mapping).
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from microloop_host.audit.model import LogError, Run
from microloop_host.audit.readers._source import Source
from microloop_host.audit.readers import mcp, miniswe, openai_chat, openhands, sweagent
from microloop_host.audit.readers import trajectory

Reader = Callable[[Source], list[Run]]

FORMATS: dict[str, Reader] = {
    "trajectory": trajectory.read,
    "openai": openai_chat.read,
    "swe-agent": sweagent.read,
    "mini-swe-agent": miniswe.read,
    "openhands": openhands.read,
    "mcp": mcp.read,
}


def _detect_value(v: Any) -> str | None:
    if isinstance(v, dict):
        if "mcp" in v:
            return "mcp"
        if isinstance(v.get("trajectory"), list):
            return "swe-agent"
        if isinstance(v.get("history"), list):
            h = v["history"]
            if h and isinstance(h[0], dict) and "role" in h[0]:
                return "swe-agent"  # a .traj with only its message history
            return "openhands"
        if isinstance(v.get("messages"), list):
            return "mini-swe-agent" if miniswe.looks_like(v) else "openai"
        if "kind" in v or "action" in v or "observation" in v:
            return "openhands"  # one event per line
        if "role" in v:
            return "openai"  # one message per line
        if any(k in v for k in ("policy", "tool", "raw", "report", "restart")):
            return "trajectory"
        return None
    if isinstance(v, list) and v and isinstance(v[0], dict):
        if "role" in v[0]:
            return "mini-swe-agent" if miniswe.looks_like({"messages": v}) else "openai"
        if any(k in v[0] for k in ("kind", "action", "observation")):
            return "openhands"
    return None


def detect(src: Source) -> str:
    """The format of a log, from its content. Raises LogError when none fits."""
    line, first = src.first_value()
    fmt = _detect_value(first)
    if fmt is None:
        raise src.error(line, "unknown log format (expected one of: " + ", ".join(FORMATS)
                        + "; --format forces one)")
    return fmt


def read_runs(path: str | Path, fmt: str | None = None) -> list[Run]:
    """Every run in the log file at `path` (format detected unless `fmt` is given)."""
    src = Source.read(path)
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (formats: {', '.join(FORMATS)})")
    name = fmt or detect(src)
    try:
        return FORMATS[name](src)
    except LogError:
        raise
    except RecursionError:
        raise src.error(None, "JSON nested too deeply") from None


__all__ = ["FORMATS", "LogError", "Source", "detect", "read_runs"]
