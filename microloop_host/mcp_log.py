# The audit log of `microloop mcp --log FILE`: one JSON object per tools/call, one line each,
# appended and flushed as each call is decided (blocked) or finished (allowed), so a reader
# (`microloop audit`) sees every call even if the guard is killed. One file = one run.
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any


@dataclass
class CallRecord:
    """One tools/call as the log stores it (the keys are fixed: readers depend on them)."""

    ts: float  # unix time the call arrived
    id: Any  # the JSON-RPC id
    tool: str
    args: Any  # the arguments object as received
    verdict: int  # the guard's code, 0 = allowed
    reason: str
    ok: bool | None = None  # None: blocked (never ran)
    result: str | None = None  # text content joined by "\n", the error message, or None

    def to_json(self) -> str:
        return json.dumps({
            "mcp": 1, "ts": self.ts, "id": self.id, "tool": self.tool, "args": self.args,
            "verdict": self.verdict, "reason": self.reason, "ok": self.ok, "result": self.result,
        }, ensure_ascii=False, separators=(",", ":"), default=str)


class CallLog:
    """Appends CallRecords to a file (or does nothing when no path was given)."""

    def __init__(self, path: str | Path | None) -> None:
        self._fh: IO[str] | None = None
        if path is not None:
            # ValueError with the reason: the command turns it into one line
            try:
                self._fh = open(path, "a", encoding="utf-8")
            except OSError as exc:
                raise ValueError(f"cannot open log file {str(path)!r}: "
                                 f"{exc.strerror or exc}") from exc

    def write(self, rec: CallRecord) -> None:
        """Append one record as one line and flush it."""
        if self._fh is None:
            return
        self._fh.write(rec.to_json() + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def now() -> float:
    """The timestamp a record carries (unix time, float seconds)."""
    return time.time()
