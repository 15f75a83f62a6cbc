# microloop_mpy.policy -- validates a policy dict and merges it over the defaults.
# Runs once, in Guard(...): it allocates freely and raises ValueError naming the bad key.
# Never called from check().

DEFAULT_LOOPS = {
    "identical": 3,
    "repeat": 4,
    "window": 16,
    "errors": 3,
    "stale": 12,
    "retries": 0,
    "cycle_period": 4,
    "cycle_repeats": 3,
}
DEFAULTS = {"history": 32, "max_call_bytes": 65536, "max_depth": 16}
MAX_DEPTH_LIMIT = 64  # the scanner recurses per level: bounded for small device stacks
# thresholds that are 0 (off) or >= 2
_THRESHOLDS = ("identical", "repeat", "errors", "stale", "retries", "cycle_repeats")
# order of the per-tool threshold tuple
TOOL_LOOP_KEYS = ("identical", "repeat", "errors", "stale", "retries", "cycle_repeats")
_TOP_KEYS = ("history", "max_call_bytes", "max_depth", "loops", "tools", "default", "rules",
             "state_path")


def _is_int(v):
    return type(v) is int  # bool is not an int here, on either runtime


def _need_int(where, v, low):
    if not _is_int(v):
        raise ValueError("policy: %s must be an int, got %r" % (where, v))
    if v < low:
        raise ValueError("policy: %s must be >= %d, got %d" % (where, low, v))


def _need_threshold(where, v):
    if not _is_int(v):
        raise ValueError("policy: %s must be an int, got %r" % (where, v))
    if v != 0 and v < 2:
        raise ValueError("policy: %s must be 0 (off) or >= 2, got %d" % (where, v))


def _check_loops(where, loops, allowed):
    if not isinstance(loops, dict):
        raise ValueError("policy: %s must be an object" % where)
    for key in loops:
        if key not in allowed:
            raise ValueError("policy: unknown key %s.%s" % (where, key))
        value = loops[key]
        name = "%s.%s" % (where, key)
        if key == "window":
            _need_int(name, value, 1)
        else:
            _need_threshold(name, value)


class Compiled:
    """A validated policy: plain attributes, thresholds as tuples of small ints."""

    def __init__(self):
        self.history = 0
        self.max_call_bytes = 0
        self.max_depth = 0
        self.window = 0
        self.cycle_period = 0
        self.loops = None  # tuple in TOOL_LOOP_KEYS order: the policy's own thresholds
        self.tool_names = []  # UTF-8 bytes of each configured tool name
        self.tool_exempt = []  # bool per tool
        self.tool_loops = []  # tuple per tool, merged over self.loops
        self.default = "allow"
        self.rules = []
        self.state_path = None


def compile_policy(policy):
    """Validate and merge a policy (dict or None). Returns Compiled; raises ValueError."""
    if policy is None:
        policy = {}
    if not isinstance(policy, dict):
        raise ValueError("policy must be a dict (or None for the defaults)")
    for key in policy:
        if key not in _TOP_KEYS:
            raise ValueError("policy: unknown key %r" % (key,))
    out = Compiled()
    for key in ("history", "max_call_bytes"):
        value = policy.get(key, DEFAULTS[key])
        _need_int(key, value, 1)
        setattr(out, key, value)
    value = policy.get("max_depth", DEFAULTS["max_depth"])
    _need_int("max_depth", value, 2)
    if value > MAX_DEPTH_LIMIT:
        raise ValueError("policy: max_depth must be <= %d, got %d" % (MAX_DEPTH_LIMIT, value))
    out.max_depth = value

    loops = policy.get("loops", {})
    _check_loops("loops", loops, DEFAULT_LOOPS)
    merged = dict(DEFAULT_LOOPS)
    merged.update(loops)
    if merged["cycle_period"] != 0 and merged["cycle_period"] < 2:
        raise ValueError("policy: loops.cycle_period must be 0 (off) or >= 2")
    out.window = merged["window"]
    out.cycle_period = merged["cycle_period"]
    out.loops = tuple(merged[k] for k in TOOL_LOOP_KEYS)
    _check_history(out, "loops", merged)

    tools = policy.get("tools", {})
    if not isinstance(tools, dict):
        raise ValueError("policy: tools must be an object")
    for name in tools:
        where = "tools.%s" % (name,)
        if not isinstance(name, str) or not name:
            raise ValueError("policy: tool names under tools must be non-empty strings")
        setting = tools[name]
        if not isinstance(setting, dict):
            raise ValueError("policy: %s must be an object" % where)
        for key in setting:
            if key not in ("exempt", "loops"):
                raise ValueError("policy: unknown key %s.%s" % (where, key))
        exempt = setting.get("exempt", False)
        if exempt is not True and exempt is not False:
            raise ValueError("policy: %s.exempt must be true or false" % where)
        own = setting.get("loops", {})
        if isinstance(own, dict) and ("window" in own or "cycle_period" in own):
            bad = "window" if "window" in own else "cycle_period"
            raise ValueError("policy: %s.loops.%s cannot be set per tool" % (where, bad))
        _check_loops(where + ".loops", own, TOOL_LOOP_KEYS)
        tool_merged = dict(merged)
        tool_merged.update(own)
        _check_history(out, where + ".loops", tool_merged)
        out.tool_names.append(name.encode("utf-8"))
        out.tool_exempt.append(exempt)
        out.tool_loops.append(tuple(tool_merged[k] for k in TOOL_LOOP_KEYS))

    default = policy.get("default", "allow")
    if default != "allow" and default != "block":
        raise ValueError('policy: default must be "allow" or "block"')
    out.default = default
    rules = policy.get("rules", [])
    if not isinstance(rules, list):
        raise ValueError("policy: rules must be a list")
    out.rules = rules
    state_path = policy.get("state_path", None)
    if state_path is not None and (not isinstance(state_path, str) or not state_path):
        raise ValueError("policy: state_path must be a non-empty string")
    out.state_path = state_path
    return out


def _check_history(out, where, loops):
    history = out.history
    if history < out.window:
        raise ValueError("policy: history (%d) must be >= loops.window (%d)"
                         % (history, out.window))
    span = out.cycle_period * loops["cycle_repeats"]
    if history < span:
        raise ValueError("policy: history (%d) must be >= cycle_period * %s.cycle_repeats (%d)"
                         % (history, where, span))
    for key in ("stale", "identical"):
        if history < loops[key]:
            raise ValueError("policy: history (%d) must be >= %s.%s (%d)"
                             % (history, where, key, loops[key]))
