# Canonical bytes for the core: one call as {"tool": ..., "args": ...} JSON, one result as
# UTF-8 bytes. Pure functions; they must never raise on odd Python values (a framework can
# hand a tool anything), and the same call must always give the same bytes.
from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Mapping
from typing import Any

_MAX_DEPTH = 64  # deeper than any policy's max_depth: the core will block it as TOO_DEEP


def to_jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON value for `value`: containers and common types kept, anything else as str()."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        # NaN/Infinity are not JSON (the core rejects them); keep them as text
        return value if math.isfinite(value) else repr(value)
    if depth >= _MAX_DEPTH:
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [to_jsonable(v, depth + 1) for v in value]
        return sorted(items, key=lambda x: json.dumps(x, sort_keys=True, default=str))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, depth + 1)
    dump = getattr(value, "model_dump", None)  # pydantic v2 models
    if callable(dump):
        try:
            return to_jsonable(dump(mode="json"), depth + 1)
        except Exception:
            return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value), depth + 1)
    return str(value)


def dumps(value: Any) -> str:
    """Compact JSON text, non-ASCII kept as is (the form the core and the tests use)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def call_bytes(tool: str, args: Any) -> bytes:
    """The bytes of one call, as `microloop_mpy.Guard.check` reads them."""
    text = dumps({"tool": str(tool), "args": to_jsonable(args)})
    # a lone surrogate (from surrogateescape'd file names) becomes its \\u text, not an error
    return text.encode("utf-8", "backslashreplace")


def result_bytes(result: Any) -> bytes:
    """The bytes of a tool's result for `Guard.outcome`: str(result) in UTF-8."""
    if result is None:
        return b""
    if isinstance(result, (bytes, bytearray, memoryview)):
        return bytes(result)
    if isinstance(result, str):
        text = result
    elif isinstance(result, (list, dict)):
        text = dumps(to_jsonable(result))
    else:
        text = str(result)
    return text.encode("utf-8", "backslashreplace")
