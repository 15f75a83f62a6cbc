# microloop_mpy.rules -- the rule engine: allow/block rules (exact, prefix, presence), count
# budgets (lifetime or per_s), and, on CPython only, regex conditions and JSON Schema per tool.
# Rules are compiled in Guard(...) into lists of constants; judge() and spend() never allocate on
# MicroPython (the state file is written only when a budget reservation runs out: see state.py).
# Matching is on decoded text everywhere: tool names, keys along an arg path, values.
from ._compat import IS_MICROPYTHON, array, zeros, const
from .scan import key_id
from . import codes

K_BLOCK = const(0)  # rule kinds
K_ALLOW = const(1)
K_COUNT = const(2)
K_SCHEMA = const(3)
T_ANY = const(0)  # tool patterns
T_EXACT = const(1)
T_PREFIX = const(2)
MAX_PER_S_COUNT = 1000
MAX_COUNT = 1 << 29  # spends stay small ints on 32-bit boards
# The rules' clock: milliseconds modulo 2**29 (a board's ticks_ms and a caller's clock are both
# folded into it), compared with ticks_diff semantics. The longest window (86,400,000 ms) is
# far inside half the period, so a spend's age is always exact.
CLOCK_MASK = const(0x1FFFFFFF)
_CLOCK_HALF = const(0x10000000)


def clock_diff(a, b):
    """a - b on the rules' clock (both already masked). Does not allocate."""
    return ((a - b + _CLOCK_HALF) & CLOCK_MASK) - _CLOCK_HALF


_RULE_KEYS = ("action", "tool", "arg", "exact", "prefix", "count", "per_s", "regex", "schema")


def _err(index, key, text):
    return ValueError("policy: rules[%d].%s %s" % (index, key, text))


def _exact_text(value):
    # the literal text an exact value matches, with its JSON type: (is_string, bytes)
    if value is True:
        return False, b"true"
    if value is False:
        return False, b"false"
    if value is None:
        return False, b"null"
    if type(value) is int:
        return False, str(value).encode()
    return True, value.encode("utf-8")


def rule_key(rule):
    """A rule's identity for the state file: CRC32 of its own content (tool, arg, exact, prefix,
    count, per_s), so editing one rule does not refill the others. Allocates (compile time)."""
    parts = []
    for key in ("tool", "arg", "exact", "prefix", "count", "per_s"):
        if key in rule:
            value = rule[key]
            if key == "exact":
                is_str, text = _exact_text(value)
                text = (b"s" if is_str else b"l") + text
            elif isinstance(value, str):
                text = value.encode("utf-8")
            else:
                text = str(value).encode()
            parts.append(key.encode() + b"=" + text)
    h, l = key_id(b"\x00".join(parts))
    return h, l


class Rules:
    """Compiled rules and the budget state they spend."""

    def __init__(self, rules, default):
        self.n = len(rules)
        self.default_block = default == "block"
        self.kind = bytearray(self.n)
        self.tool_mode = bytearray(self.n)
        self.tool = []
        self.path = []  # tuple of segment bytes, or None
        self.exact = []  # (is_string, bytes) or None
        self.prefix = []  # bytes or None
        self.regex = []  # compiled pattern (CPython) or None
        self.schema = []  # jsonschema validator (CPython) or None
        self.count = zeros("i", max(self.n, 1))
        self.per_ms = zeros("i", max(self.n, 1))  # window in ms, 0: a lifetime budget
        self.spent = zeros("i", max(self.n, 1))  # lifetime: spends; per_s: spends held
        self.ring_at = zeros("i", max(self.n, 1))  # per_s: first slot of its time ring
        self.ring_head = zeros("i", max(self.n, 1))
        self.key_h = zeros("H", max(self.n, 1))
        self.key_l = zeros("H", max(self.n, 1))
        self.hits = zeros("h", max(self.n, 1))  # the count rules the current call matches
        self.nhits = 0
        self.tmask = bytearray(max(self.n, 1))  # which rules' tool patterns match the call
        self.exhausted = False  # a corrupt state file: every budget spent until cleared
        self.schema_message = None
        slots = 0
        for i in range(self.n):
            slots += self._compile(i, rules[i])
        self.times = zeros("i", max(slots, 1))  # spend times of the per_s rules (ms)
        self.rule = -1

    # -- compiling ------------------------------------------------------------------------
    def _compile(self, i, rule):
        if not isinstance(rule, dict):
            raise ValueError("policy: rules[%d] must be an object" % i)
        for key in rule:
            if key not in _RULE_KEYS:
                raise _err(i, key, "is not a rule key")
        if "tool" not in rule:
            raise _err(i, "tool", "is missing")
        tool = rule["tool"]
        if not isinstance(tool, str) or not tool:
            raise _err(i, "tool", "must be a non-empty string")
        if tool == "*":
            self.tool_mode[i] = T_ANY
            self.tool.append(b"")
        elif tool[-1] == "*":
            self.tool_mode[i] = T_PREFIX
            self.tool.append(tool[:-1].encode("utf-8"))
        else:
            self.tool_mode[i] = T_EXACT
            self.tool.append(tool.encode("utf-8"))
        has_action = "action" in rule
        has_count = "count" in rule
        has_schema = "schema" in rule
        if has_schema:
            for key in rule:
                if key not in ("tool", "schema"):
                    raise _err(i, key, "cannot go with schema (a schema rule has only tool and schema)")
            self.kind[i] = K_SCHEMA
        elif has_count:
            if has_action:
                raise _err(i, "action", "cannot go with count (a count rule is a budget)")
            self.kind[i] = K_COUNT
        elif has_action:
            action = rule["action"]
            if action == "block":
                self.kind[i] = K_BLOCK
            elif action == "allow":
                self.kind[i] = K_ALLOW
            else:
                raise _err(i, "action", 'must be "allow" or "block"')
        else:
            raise ValueError("policy: rules[%d] needs one of action, count, schema" % i)
        # the condition
        path = None
        if "arg" in rule:
            arg = rule["arg"]
            if not isinstance(arg, str) or not arg:
                raise _err(i, "arg", "must be a non-empty dotted path")
            segs = arg.split(".")
            for seg in segs:
                if not seg:
                    raise _err(i, "arg", "has an empty segment")
            path = tuple(seg.encode("utf-8") for seg in segs)
        self.path.append(path)
        if "exact" in rule and "prefix" in rule:
            raise _err(i, "exact", "and prefix cannot go together")
        exact = None
        if "exact" in rule:
            value = rule["exact"]
            if type(value) is float:
                raise _err(i, "exact", "cannot be a float (numbers compare by literal text)")
            if not (isinstance(value, str) or value is None or type(value) in (int, bool)):
                raise _err(i, "exact", "must be a string, int, bool or null")
            if path is None:
                raise _err(i, "exact", "needs arg")
            exact = _exact_text(value)
        self.exact.append(exact)
        prefix = None
        if "prefix" in rule:
            value = rule["prefix"]
            if not isinstance(value, str):
                raise _err(i, "prefix", "must be a string")
            if not value:
                raise _err(i, "prefix", "must not be empty")
            if path is None:
                raise _err(i, "prefix", "needs arg")
            prefix = value.encode("utf-8")
        self.prefix.append(prefix)
        regex = None
        if "regex" in rule:
            if IS_MICROPYTHON:
                raise _err(i, "regex", "is CPython-only: this policy cannot load on MicroPython")
            value = rule["regex"]
            if not isinstance(value, str):
                raise _err(i, "regex", "must be a string")
            if path is None:
                raise _err(i, "regex", "needs arg")
            import re

            try:
                regex = re.compile(value)
            except re.error as exc:
                raise _err(i, "regex", "does not compile: %s" % exc)
        self.regex.append(regex)
        validator = None
        if has_schema:
            if IS_MICROPYTHON:
                raise _err(i, "schema", "is CPython-only: this policy cannot load on MicroPython")
            schema = rule["schema"]
            if not isinstance(schema, dict):
                raise _err(i, "schema", "must be an object (a JSON Schema)")
            try:
                import jsonschema
            except ImportError:
                raise _err(i, "schema", "needs the jsonschema package (pip install jsonschema)")
            cls = jsonschema.validators.validator_for(schema)
            try:
                cls.check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise _err(i, "schema", "is not a valid JSON Schema: %s" % exc.message)
            validator = cls(schema)
        self.schema.append(validator)
        # budgets
        slots = 0
        if "per_s" in rule and not has_count:
            raise _err(i, "per_s", "needs count")
        if has_count:
            count = rule["count"]
            if type(count) is not int or count < 1:
                raise _err(i, "count", "must be an int >= 1")
            if count > MAX_COUNT:
                raise _err(i, "count", "must be <= %d" % MAX_COUNT)
            self.count[i] = count
            if "per_s" in rule:
                per_s = rule["per_s"]
                if type(per_s) is not int or not 1 <= per_s <= 86400:
                    raise _err(i, "per_s", "must be an int in 1..86400")
                if count > MAX_PER_S_COUNT:
                    raise _err(i, "count", "must be <= %d with per_s" % MAX_PER_S_COUNT)
                self.per_ms[i] = per_s * 1000
                slots = count
            h, l = rule_key(rule)
            self.key_h[i] = h
            self.key_l[i] = l
        return slots

    def layout(self):
        """Place each per_s rule's time ring in self.times (after compiling). Allocation-free."""
        at = 0
        for i in range(self.n):
            if self.kind[i] == K_COUNT and self.per_ms[i]:
                self.ring_at[i] = at
                at += self.count[i]

    # -- budgets --------------------------------------------------------------------------
    def has_budget(self, i, now):
        """Rule i (a count rule) can spend one more at `now`. Does not allocate."""
        if self.exhausted:
            return False
        count = self.count[i]
        if not self.per_ms[i]:
            return self.spent[i] < count
        if self.spent[i] < count:
            return True
        oldest = self.times[self.ring_at[i] + self.ring_head[i]]
        age = clock_diff(now, oldest)
        return age < 0 or age >= self.per_ms[i]  # < 0 only across a clock wrap: long ago

    def spend(self, now):
        """Spend one on every count rule the last judged call matched. Does not allocate."""
        hits = self.hits
        for k in range(self.nhits):
            self.spend_one(hits[k], now)

    def spend_one(self, i, now):
        if not self.per_ms[i]:
            self.spent[i] += 1
            return
        count = self.count[i]
        head = self.ring_head[i]
        self.times[self.ring_at[i] + head] = now
        head += 1
        self.ring_head[i] = 0 if head == count else head
        if self.spent[i] < count:
            self.spent[i] += 1

    def in_window(self, i, now):
        """Spends of per_s rule i that still count at `now`. Does not allocate."""
        held = 0
        base = self.ring_at[i]
        count = self.count[i]
        spent = self.spent[i]
        for k in range(count):
            if k >= spent:
                break
            slot = self.ring_head[i] - 1 - k
            if slot < 0:
                slot += count
            age = clock_diff(now, self.times[base + slot])
            if 0 <= age < self.per_ms[i]:
                held += 1
        return held

    def clear(self):
        """Forget every spend (operator action). Does not allocate."""
        for i in range(self.n):
            self.spent[i] = 0
            self.ring_head[i] = 0
        self.exhausted = False

    # -- judging ---------------------------------------------------------------------------
    def judge(self, m, now):
        """Evaluate the rules against the call the matcher `m` holds. Returns ALLOW or a block
        code; self.rule is the deciding rule's index (-1 when none). Marks the count rules the
        call matches in self.hits[:self.nhits]. Does not allocate on MicroPython."""
        v = self.conditions(m)
        if v:
            return v
        return self.budgets(now)

    def conditions(self, m):
        """Everything about the call that depends on its bytes alone: the allow/block decision,
        schemas, and (in self.hits) the count rules it matches. Does not allocate."""
        self.rule = -1
        n = self.n
        decided = False
        self.nhits = 0
        mask = m.tool_mask(self)  # mask[i]: rule i's tool pattern matches the call's tool
        for i in range(n):
            kind = self.kind[i]
            if kind > K_ALLOW or not mask[i]:
                continue
            if self._matches(m, i):
                if kind == K_BLOCK:
                    self.rule = i
                    return codes.RULE_BLOCK
                decided = True
                break
        if not decided and self.default_block:
            return codes.RULE_BLOCK
        for i in range(n):
            if self.kind[i] == K_SCHEMA and mask[i]:
                message = m.schema_error(self.schema[i])
                if message is not None:
                    self.schema_message = message
                    self.rule = i
                    return codes.SCHEMA_INVALID
        for i in range(n):
            if self.kind[i] == K_COUNT and mask[i] and self._matches(m, i):
                self.hits[self.nhits] = i
                self.nhits += 1
        return codes.ALLOW

    def budgets(self, now):
        """After the rule conditions: BUDGET_EXHAUSTED (self.rule the first exhausted rule)
        unless every count rule the call matched has budget left. Does not allocate."""
        hits = self.hits
        for k in range(self.nhits):
            i = hits[k]
            if not self.has_budget(i, now):
                self.rule = i
                return codes.BUDGET_EXHAUSTED
        return codes.ALLOW

    def fill_tool_mask(self, m, mask):
        """mask[i] = 1 when rule i's tool pattern matches the call's tool name (the matcher's
        tool_matches); for matchers without a cache. Does not allocate."""
        for i in range(self.n):
            mode = self.tool_mode[i]
            if mode == T_ANY:
                mask[i] = 1
            else:
                mask[i] = 1 if m.tool_matches(self.tool[i], mode == T_PREFIX) else 0
        return mask

    def _matches(self, m, i):
        # rule i's condition on the args (its tool already matched: see tool_mask)
        path = self.path[i]
        if path is None:
            return True
        if not m.find(path):
            return False
        exact = self.exact[i]
        if exact is not None and not m.value_equals(exact[0], exact[1]):
            return False
        prefix = self.prefix[i]
        if prefix is not None and not m.value_startswith(prefix):
            return False
        regex = self.regex[i]
        if regex is not None and not m.value_search(regex):
            return False
        if self.kind[i] == K_ALLOW and (prefix is not None or regex is not None):
            if m.value_has_dotdot():
                return False
        return True
