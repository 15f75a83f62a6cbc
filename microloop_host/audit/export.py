# microloop_host.audit.export -- the audited runs as trajectory JSONL (README "Trajectories"),
# one file per run, so `microloop replay --board B DIR` replays a user's own traffic on a
# device: parity with CPython and on-device timing. The header carries the first policy;
# every call step carries "expect" from that policy's verdict in the audit, so the replay
# also checks the device agrees with the audit. A call's bytes reach the guard unchanged:
# the call's own JSON text is the step line's tool/args members (newlines between tokens
# become spaces), and a call that is not such an object goes as "raw".
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from microloop_host.audit.model import Call, Report, Run
from microloop_host.audit.replay import RunResult
from microloop_host.canonical import dumps


def _member_text(call: bytes) -> bytes | None:
    """The call's inside ("tool":...,"args":...) when the call is a JSON object of only
    tool/args/id members whose raw text the trajectory replayer will hand the guard as is."""
    from microloop_mpy.trajectory import call_bytes

    flat = call.replace(b"\r", b" ").replace(b"\n", b" ").strip()
    if not (flat.startswith(b"{") and flat.endswith(b"}")):
        return None
    try:
        obj = json.loads(flat)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or not obj or set(obj) - {"tool", "args", "id"}:
        return None
    if call_bytes(flat) is None:
        return None
    return flat[1:-1].strip()


def step_line(c: Call, expect: str | None) -> bytes:
    """One call step of a trajectory file."""
    extra: dict[str, Any] = {}
    if c.ok is not None:
        extra["ok"] = c.ok
        extra["result"] = c.result.decode("utf-8", "backslashreplace")
    if c.t_ms is not None:
        extra["t_ms"] = c.t_ms
    if expect:
        extra["expect"] = expect
    inner = _member_text(c.call)
    if inner is None:
        return dumps({"raw": c.call.decode("utf-8", "backslashreplace"), **extra}).encode()
    tail = dumps(extra)[1:-1].encode() if extra else b""
    return b"{" + inner + (b"," + tail if tail else b"") + b"}"


def trajectory_lines(run: Run, result: RunResult, policy: dict[str, Any] | None) -> list[bytes]:
    """The run as trajectory lines: header (policy), call steps, report steps, restarts."""
    pol = dict(policy or {})
    pol.pop("max_call_bytes", None)  # the board's receive buffer sets it (README "Audit")
    head = {"policy": pol, "name": f"audit of {run.name} ({run.fmt}), "
            f"policy {result.policy}"}
    lines = [dumps(head).encode()]
    k = 0
    for ev in run.events:
        if type(ev) is Call:
            lines.append(step_line(ev, "block" if result.verdicts[k] else "allow"))
            k += 1
        elif type(ev) is Report:
            lines.append(dumps({"report": ev.index, "ok": ev.ok,
                                "result": ev.result.decode("utf-8", "backslashreplace")}).encode())
        else:
            lines.append(b'{"restart": true}')
    return lines


def file_name(run: Run, used: set[str]) -> str:
    """A file name for a run: its name with anything but [A-Za-z0-9._-] made '_'."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", run.name).strip("._") or "run"
    stem = stem[-120:]
    name = stem + ".jsonl"
    n = 2
    while name in used:
        name = f"{stem}_{n}.jsonl"
        n += 1
    used.add(name)
    return name


def export(results: list[RunResult], out_dir: Path, policy: dict[str, Any] | None) -> list[Path]:
    """Writes one trajectory file per run (results of one policy) into out_dir; returns
    their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    paths = []
    for result in results:
        p = out_dir / file_name(result.run, used)
        p.write_bytes(b"\n".join(trajectory_lines(result.run, result, policy)) + b"\n")
        paths.append(p)
    return paths
