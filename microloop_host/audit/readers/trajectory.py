# microloop_host.audit.readers.trajectory -- the project's own trajectory JSONL (README
# "Trajectories"): an optional {"policy", "name"} header (its policy is ignored: the audit's
# --policy decides), call steps (tool/args/id kept as raw text, or "raw"), report steps,
# restarts, t_ms. One file = one run. ok as the replayer reads it: true/1 ran, false/0 failed.
from __future__ import annotations

import json
import re
from json.decoder import scanstring
from typing import Any

from microloop_host.audit.model import Call, Restart, Run
from microloop_host.audit.readers._source import Source


def _ok(v: Any) -> bool | None:
    if v is True or v == 1:
        return True
    if v is False or v == 0:
        return False
    return None


def _result(step: dict[str, Any]) -> bytes:
    r = step.get("result", "")
    if isinstance(r, str):
        return r.encode("utf-8", "backslashreplace")
    return json.dumps(r).encode()


_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_NAMES = ("tool", "args", "id")


def _members(line: str) -> bytes | None:
    """The call a step line names, as microloop_mpy.trajectory.call_bytes gives it (its
    tool/args/id members' raw text, in order), found with the json module's C scanner: the
    core's byte-by-byte reader is exact but slow on long results. ValueError when unsure."""
    ws = _WS.match
    i = ws(line, 0).end()
    if line[i:i + 1] != "{":
        return None
    i = ws(line, i + 1).end()
    parts = []
    while line[i:i + 1] == '"':
        key, i = scanstring(line, i + 1)
        i = ws(line, i).end()
        if line[i:i + 1] != ":":
            raise ValueError("no colon")
        i = ws(line, i + 1).end()
        _, j = _DECODER.raw_decode(line, i)
        if key in _NAMES:
            parts.append('"' + key + '":' + line[i:j])
        i = ws(line, j).end()
        if line[i:i + 1] == ",":
            i = ws(line, i + 1).end()
    if not parts:
        return None
    return ("{" + ",".join(parts) + "}").encode("utf-8")


def call_of_line(line: str, raw: bytes) -> bytes | None:
    """The call bytes of a step line: the fast reader, checked against the core's reader
    whenever the fast one is unsure."""
    from microloop_mpy.trajectory import call_bytes

    try:
        return _members(line)
    except (ValueError, RecursionError, IndexError):
        return call_bytes(raw)


def read(src: Source) -> list[Run]:
    """One run: every step line of the trajectory."""
    run = Run(src.path, src.path, "trajectory")
    first = True
    pending_t: int | None = None
    texts = {n: t.strip() for n, t in enumerate(src.text.split("\n"), 1)}
    for (n, step), (_, raw) in zip(src.lines(), src.raw_lines()):
        if not isinstance(step, dict):
            raise src.error(n, "a trajectory step must be a JSON object")
        if first:
            first = False
            if "policy" in step and "tool" not in step and "raw" not in step:
                if isinstance(step.get("name"), str):
                    run.name = f"{run.name} ({step['name'][:60]})"
                continue
        t = step.get("t_ms")
        if t is not None:
            if type(t) is not int:
                raise src.error(n, "t_ms must be an integer (milliseconds)")
            pending_t = t
        if step.get("restart"):
            run.events.append(Restart(n))
            continue
        if "report" in step:
            k = step["report"]
            ok = _ok(step.get("ok"))
            if type(k) is not int or k < 0:
                raise src.error(n, "report must name a call step by its index (an int >= 0)")
            if ok is not None:
                run.report(k, ok, _result(step), n)
            continue
        if "raw" in step:
            if not isinstance(step["raw"], str):
                raise src.error(n, "raw must be a string (the call's text)")
            call = step["raw"].encode("utf-8", "backslashreplace")
        else:
            call = call_of_line(texts[n], raw)
            if call is None:
                raise src.error(n, "step names no call (tool/args), report or restart")
        tool = step.get("tool")
        c = Call(tool if isinstance(tool, str) else "?", call, _ok(step.get("ok")),
                 _result(step), n, pending_t)
        pending_t = None
        if c.ok is None:
            c.result = b""
        run.add_call(c)
    return [run]
