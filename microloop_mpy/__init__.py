# microloop_mpy -- a guard that decides, before each tool call of an AI agent runs, whether it
# may run: loop detection over calls and their outcomes, and a small rule engine.
# Same source on CPython and MicroPython; no dependency beyond MicroPython builtins.
from .codes import (  # noqa: F401
    ALLOW,
    IDENTICAL,
    REPEAT,
    CYCLE,
    ERROR_LOOP,
    STALE,
    RETRIES,
    RULE_BLOCK,
    BUDGET_EXHAUSTED,
    SCHEMA_INVALID,
    MALFORMED,
    TOO_LARGE,
    TOO_DEEP,
    DUPLICATE_KEY,
    BAD_SPAN,
    BAD_UTF8,
    LONE_SURROGATE,
    CONTROL_CHAR,
    BAD_NUMBER,
    UNKNOWN_KEY,
    BAD_TOOL,
    BAD_ARGS,
    TRUNCATED,
    TOO_MANY_KEYS,
    INTERNAL,
    reason,
    is_malformed,
)
from .guard import Guard  # noqa: F401

__version__ = "0.1.0"
