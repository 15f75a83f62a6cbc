# microloop_host.audit.readers.mcp -- `microloop mcp --log FILE` records: one JSON object a
# line, {"mcp": 1, "ts", "id", "tool", "args", "verdict", "reason", "ok", "result"}. One file
# = one run. ok true/false is the tool's own outcome (false: the server answered an error or
# did not answer); null means the call was blocked then, so it has no outcome to report.
from __future__ import annotations

from microloop_host.audit.model import Call, Run, call_of, text_bytes
from microloop_host.audit.readers._source import Source


def read(src: Source) -> list[Run]:
    """One run: every recorded tool call, in file order."""
    run = Run(src.path, src.path, "mcp")
    t0: float | None = None
    for n, rec in src.lines():
        if not isinstance(rec, dict) or "mcp" not in rec:
            raise src.error(n, 'an MCP log line must be a JSON object with an "mcp" key')
        tool = rec.get("tool")
        if not isinstance(tool, str):
            raise src.error(n, '"tool" must be a string')
        ok = rec.get("ok")
        if ok not in (True, False, None):
            raise src.error(n, '"ok" must be true, false or null')
        t_ms = None
        ts = rec.get("ts")
        if isinstance(ts, (int, float)) and not isinstance(ts, bool):
            t0 = ts if t0 is None else t0
            t_ms = int(round((ts - t0) * 1000))
        run.add_call(Call(tool, call_of(tool, rec.get("args")), ok,
                          text_bytes(rec.get("result")) if ok is not None else b"", n, t_ms))
    return [run]
