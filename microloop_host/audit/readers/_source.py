# microloop_host.audit.readers._source -- a log file read once: its text, the whole JSON
# document when it is one, else its JSON Lines; every syntax error becomes a LogError naming
# the file and the line.
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from microloop_host.audit.model import LogError

_NOT_PARSED = object()


@dataclass
class Source:
    """A log file's text, parsed lazily as one JSON document or as JSON Lines."""

    path: str
    text: str
    _doc: Any = field(default=_NOT_PARSED, repr=False)
    _doc_error: json.JSONDecodeError | None = field(default=None, repr=False)

    @classmethod
    def read(cls, path: str | Path) -> Source:
        p = Path(path)
        try:
            data = p.read_bytes()
        except IsADirectoryError:
            raise LogError(str(path), None, "is a directory") from None
        except OSError as e:
            raise LogError(str(path), None, f"cannot read: {e.strerror or e}") from None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = data.count(b"\n", 0, e.start) + 1
            raise LogError(str(path), line, f"not UTF-8 text (byte {e.start})") from None
        if not text.strip():
            raise LogError(str(path), None, "empty file")
        return cls(str(path), text)

    def document(self) -> Any:
        """The file as one JSON value, or raises the LogError of its first syntax error."""
        if self._doc is _NOT_PARSED:
            try:
                self._doc = json.loads(self.text)
            except json.JSONDecodeError as e:
                self._doc = None
                self._doc_error = e
            except RecursionError:
                raise LogError(self.path, None, "JSON nested too deeply") from None
        if self._doc_error is not None:
            raise self.syntax_error(self._doc_error)
        return self._doc

    def is_document(self) -> bool:
        """True when the whole file is a single JSON value."""
        try:
            self.document()
        except LogError:
            return False
        return True

    def syntax_error(self, e: json.JSONDecodeError, line_offset: int = 0) -> LogError:
        """A LogError for a JSON syntax error: "truncated" when it is in the file's last
        line (a file cut short), "malformed" anywhere else."""
        if e.msg == "Extra data" and not line_offset:
            return LogError(self.path, e.lineno, "a second JSON value: this format is one JSON "
                            "document, not JSON Lines")
        last = len(self.text.rstrip().split("\n"))
        what = "truncated JSON" if e.lineno + line_offset >= last else "malformed JSON"
        return LogError(self.path, e.lineno + line_offset, f"{what}: {e.msg} (column {e.colno})")

    def lines(self) -> Iterator[tuple[int, Any]]:
        """(line number, JSON value) for every non-blank line (JSON Lines)."""
        for n, raw in enumerate(self.text.split("\n"), 1):
            s = raw.strip()
            if not s:
                continue
            try:
                yield n, json.loads(s)
            except json.JSONDecodeError as e:
                raise self.syntax_error(e, n - 1) from None
            except RecursionError:
                raise LogError(self.path, n, "JSON nested too deeply") from None

    def raw_lines(self) -> Iterator[tuple[int, bytes]]:
        """(line number, the line's UTF-8 bytes) for every non-blank line."""
        for n, raw in enumerate(self.text.split("\n"), 1):
            s = raw.strip()
            if s:
                yield n, s.encode("utf-8", "surrogatepass")

    def first_value(self) -> tuple[int, Any]:
        """The first JSON value of the file: the document, or its first JSON line."""
        if self.is_document():
            return 1, self.document()
        for n, raw in enumerate(self.text.split("\n"), 1):
            if raw.strip():
                try:
                    return n, json.loads(raw)
                except json.JSONDecodeError:
                    # not JSON Lines either: the document's own error says where it broke
                    self.document()
                break
        raise LogError(self.path, None, "empty file")

    def error(self, line: int | None, message: str, where: str = "") -> LogError:
        """A LogError for this file; a one-line file names line 1 even in a document."""
        if line is None and "\n" not in self.text.strip():
            line = 1
        return LogError(self.path, line, message, where)
