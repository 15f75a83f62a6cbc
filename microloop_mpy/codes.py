# microloop_mpy.codes -- verdict codes and their constant messages.
# Codes are small ints; messages are constant strings looked up by code, never formatted.
# Public: every name here is importable on every runtime (no leading underscore).
from ._compat import const

ALLOW = const(0)
# loop detectors
IDENTICAL = const(1)
REPEAT = const(2)
CYCLE = const(3)
ERROR_LOOP = const(4)
STALE = const(5)
RETRIES = const(6)
# rules (issue 8)
RULE_BLOCK = const(7)
BUDGET_EXHAUSTED = const(8)
SCHEMA_INVALID = const(9)
# bad input: never raised, always returned
MALFORMED = const(10)
TOO_LARGE = const(11)
TOO_DEEP = const(12)
DUPLICATE_KEY = const(13)
BAD_SPAN = const(14)
BAD_UTF8 = const(15)
LONE_SURROGATE = const(16)
CONTROL_CHAR = const(17)
BAD_NUMBER = const(18)
UNKNOWN_KEY = const(19)
BAD_TOOL = const(20)
BAD_ARGS = const(21)
TRUNCATED = const(22)
TOO_MANY_KEYS = const(23)
INTERNAL = const(24)

_MESSAGES = (
    "allowed",
    "identical call with the same outcome repeated: change strategy",
    "call repeated with the same outcome and nothing new in between: change strategy",
    "the same sequence of calls and outcomes is cycling: change strategy",
    "this call keeps failing with nothing else run in between: fix the cause first",
    "only calls already made, nothing new, for too long: the agent is stuck",
    "this tool was called too often in the recent window",
    "blocked by a policy rule",
    "budget for this tool is exhausted",
    "arguments do not match the tool's schema",
    "malformed call: not strict JSON of the form {\"tool\": ..., \"args\": {...}}",
    "call is larger than max_call_bytes",
    "call nests deeper than max_depth",
    "duplicate key in an object",
    "bad span: need 0 <= start <= end <= len(buf) on bytes or bytearray",
    "invalid UTF-8 in the call",
    "lone surrogate in a \\u escape",
    "raw control character inside a string",
    "malformed number (leading zero, NaN, Infinity or bad digits)",
    "unknown top-level key: only tool, args and id are allowed",
    "tool must be a non-empty string",
    "args must be an object",
    "call is truncated",
    "too many keys open at once in the call",
    "internal error while checking: call refused",
)


def reason(code):
    """Constant message for a verdict code. Does not allocate."""
    if type(code) is int and 0 <= code < len(_MESSAGES):
        return _MESSAGES[code]
    return "unknown verdict code"


def is_malformed(code):
    """True for the codes that mean the call itself was bad input. Does not allocate."""
    return code >= MALFORMED
