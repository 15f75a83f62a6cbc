"""An executable reading of issues 7 and 8 (loop detectors, rule engine), written from the
spec text only, independently of `microloop_mpy/`.

It is slow and allocating on purpose (json.loads, lists, tuples): it is an oracle, not a guard.
Used by:
- test_spec_trajectories.py: every `expect` in host_tests/trajectories/ agrees with this model
  (so a hand-derived verdict and the written-down reading of the spec cannot drift apart);
- this file: differential tests, the real Guard against the model on random call sequences.

Where the spec leaves a boundary open (does "the history" seen by a new entry hold `history`
or `history - 1` earlier entries?), the model runs both readings and a comparison stops at the
first step where they disagree.
"""
import json
import os
import random
import re

import pytest

DEFAULT_POLICY = {
    "history": 32,
    "max_call_bytes": 65536,
    "max_depth": 16,
    "loops": {"identical": 3, "repeat": 4, "window": 16, "errors": 3, "stale": 12,
              "retries": 0, "cycle_period": 4, "cycle_repeats": 3},
    "tools": {},
}

NONE = ("<none>",)  # the "no outcome" flag: distinct from every reported outcome


class Malformed(Exception):
    pass


class _Dup(Exception):
    pass


# ---------------------------------------------------------------- parsing / identity

def _pairs_hook(pairs):
    seen = set()
    for k, _ in pairs:
        if k in seen:
            raise _Dup(k)
        seen.add(k)
    return ("obj", tuple(pairs))


def _no_constant(s):
    raise Malformed("constant " + s)


def _num(s):
    return ("num", s)


def _check_str(s):
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise Malformed("lone surrogate")


def _walk(v, depth, max_depth):
    """Check depth and lone surrogates; return the canonical (order-free) form."""
    if isinstance(v, tuple) and v and v[0] == "obj":
        if depth > max_depth:
            raise Malformed("too deep")
        items = []
        for k, x in v[1]:
            _check_str(k)
            items.append((k, _walk(x, depth + 1, max_depth)))
        items.sort(key=lambda kv: kv[0])
        return ("obj", tuple(items))
    if isinstance(v, list):
        if depth > max_depth:
            raise Malformed("too deep")
        return ("arr", tuple(_walk(x, depth + 1, max_depth) for x in v))
    if isinstance(v, str):
        _check_str(v)
        return ("str", v)
    if isinstance(v, tuple) and v[0] == "num":
        return v
    if v is True or v is False or v is None:
        return ("lit", v)
    raise AssertionError(v)


def parse_call(data, max_depth=16, max_call_bytes=65536):
    """bytes -> (tool, canonical args) or raise Malformed. A reading of issue 7 'Bad input'."""
    if len(data) > max_call_bytes:
        raise Malformed("too large")
    if data.startswith(b"\xef\xbb\xbf"):
        raise Malformed("BOM")
    try:
        text = data.decode("utf-8")  # strict: overlong, surrogates, > U+10FFFF all fail
    except UnicodeDecodeError:
        raise Malformed("utf-8")
    if text.strip(" \t\r\n") != text.strip():  # only JSON whitespace around the object
        raise Malformed("whitespace")
    try:
        v = json.loads(text, object_pairs_hook=_pairs_hook, parse_constant=_no_constant,
                       parse_int=_num, parse_float=_num)
    except _Dup:
        raise Malformed("duplicate key")
    except ValueError:
        raise Malformed("json")
    if not (isinstance(v, tuple) and v[0] == "obj"):
        raise Malformed("not an object")
    canon = _walk(v, 1, max_depth)
    members = dict(canon[1])
    for k in members:
        if k not in ("tool", "args", "id"):
            raise Malformed("unknown key")
    tool = members.get("tool")
    if tool is None or tool[0] != "str" or tool[1] == "":
        raise Malformed("tool")
    args = members.get("args", ("obj", ()))
    if args[0] != "obj":
        raise Malformed("args")
    return tool[1], args


def arg_value(args, path):
    """Decoded value at a dotted path through nested objects, or None when absent."""
    v = args
    for seg in path.split("."):
        if v[0] != "obj":
            return None
        d = dict(v[1])
        if seg not in d:
            return None
        v = d[seg]
    return v


# ---------------------------------------------------------------- rules (issue 8)

def _tool_matches(pattern, tool):
    if pattern.endswith("*"):
        return tool.startswith(pattern[:-1])
    return tool == pattern


def _has_dotdot_segment(s):
    return ".." in s.split("/")


def _exact_matches(exact, v):
    if isinstance(exact, bool):
        return v == ("lit", exact)
    if exact is None:
        return v == ("lit", None)
    if isinstance(exact, int):
        return v == ("num", str(exact))
    if isinstance(exact, str):
        return v == ("str", exact)
    raise AssertionError(exact)


def rule_condition(rule, tool, args):
    if not _tool_matches(rule["tool"], tool):
        return False
    if "arg" not in rule:
        return True
    v = arg_value(args, rule["arg"])
    if v is None:
        return False
    if "exact" in rule and not _exact_matches(rule["exact"], v):
        return False
    if "prefix" in rule or "regex" in rule:
        if v[0] != "str":
            return False
        if "prefix" in rule and not v[1].startswith(rule["prefix"]):
            return False
        if "regex" in rule and not re.search(rule["regex"], v[1]):
            return False
        if rule.get("action") == "allow" and _has_dotdot_segment(v[1]):
            return False
    return True


def _to_json(v):
    kind = v[0]
    if kind == "obj":
        return {k: _to_json(x) for k, x in v[1]}
    if kind == "arr":
        return [_to_json(x) for x in v[1]]
    if kind == "num":
        return json.loads(v[1])
    return v[1]


# ---------------------------------------------------------------- the guard model

class Entry:
    __slots__ = ("num", "call", "tool", "snap", "rep", "executed", "new")

    def outcome(self):
        return self.rep if self.rep is not None else self.snap


def merged_policy(policy):
    p = json.loads(json.dumps(DEFAULT_POLICY))
    for k, v in (policy or {}).items():
        if k == "loops":
            p["loops"].update(v)
        else:
            p[k] = v
    return p


class ModelGuard:
    """lookback: how many earlier entries 'the history' shows a new entry (history or
    history - 1; the spec's boundary reading)."""

    def __init__(self, policy=None, lookback_extra=0, clock=None):
        self.p = merged_policy(policy)
        self.lookback = self.p["history"] - 1 + lookback_extra
        self.rules = self.p.get("rules", [])
        self.default = self.p.get("default", "allow")
        self.clock = clock or (lambda: 0)
        self.spends = {}  # rule index -> list of spend times (ms)
        self.H = []
        self.n = 0
        self.last = None  # last check's entry (or None)
        self.rule_idx = -1

    # settings of one tool
    def loops_for(self, tool):
        lp = dict(self.p["loops"])
        t = self.p["tools"].get(tool, {})
        lp.update(t.get("loops", {}))
        return lp, bool(t.get("exempt", False))

    def reset(self):
        self.H = []
        self.last = None

    def restart(self, boot_ms):
        """A new Guard with the same state_path: budgets resume, per_s spends count as made at
        boot. Loop history: the caller picks (keep_history)."""
        for i, times in self.spends.items():
            if "per_s" in self.rules[i]:
                self.spends[i] = [boot_ms for _ in times]
        self.last = None

    def _budget_left(self, i, now):
        r = self.rules[i]
        times = self.spends.get(i, [])
        if "per_s" in r:
            times = [t for t in times if now - t < r["per_s"] * 1000]
            self.spends[i] = times
        return len(times) < r["count"]

    def check(self, data):
        """-> 'allow' or a reason string."""
        self.last = None
        self.rule_idx = -1
        try:
            tool, args = parse_call(data, self.p["max_depth"], self.p["max_call_bytes"])
        except Malformed as e:
            return "malformed:" + str(e)
        # allow/block rules, first match decides
        decided = False
        for i, r in enumerate(self.rules):
            if "action" not in r:
                continue
            if rule_condition(r, tool, args):
                if r["action"] == "block":
                    self.rule_idx = i
                    return "rule"
                decided = True
                break
        if not decided and self.default == "block":
            return "rule"
        for i, r in enumerate(self.rules):
            if "schema" in r and _tool_matches(r["tool"], tool):
                import jsonschema
                try:
                    jsonschema.validate(_to_json(args), r["schema"])
                except jsonschema.ValidationError:
                    self.rule_idx = i
                    return "schema"
        now = self.clock()
        counting = [i for i, r in enumerate(self.rules) if "count" in r
                    and rule_condition(r, tool, args)]
        for i in counting:
            if not self._budget_left(i, now):
                self.rule_idx = i
                return "budget"
        verdict = self._loops(tool, args)
        if verdict == "allow":
            for i in counting:
                self.spends.setdefault(i, []).append(now)
        return verdict

    def _loops(self, tool, args):
        call = (tool, args)
        H = self.H[-self.lookback:] if self.lookback > 0 else []
        snap = NONE
        for e in reversed(H):
            if e.call == call:
                snap = e.outcome()
                break
        new = all(e.call != call for e in H)
        lp, exempt = self.loops_for(tool)
        me = (call, snap)

        def match(e):
            return (e.call, e.outcome()) == me

        verdict = "allow"
        if not exempt:
            verdict = self._detect(lp, tool, call, me, new, match)
        e = Entry()
        e.num = self.n
        self.n += 1
        e.call, e.tool, e.snap, e.rep = call, tool, snap, None
        e.executed = verdict == "allow"
        e.new = new
        self.H.append(e)
        del self.H[:-self.p["history"]]
        self.last = e
        return verdict

    def _detect(self, lp, tool, call, me, new, match):
        H = self.H
        k = lp["identical"]
        if k and len(H) >= k - 1 and all(match(e) for e in H[len(H) - (k - 1):]):
            return "identical"
        k, w = lp["repeat"], lp["window"]
        if k:
            prev = H[max(0, len(H) - (w - 1)):]
            start = 0
            for j in range(len(prev) - 1, -1, -1):
                if prev[j].new:
                    start = j
                    break
            if sum(1 for e in prev[start:] if e.executed and match(e)) >= k - 1:
                return "repeat"
        reps = lp["cycle_repeats"]
        if reps and lp["cycle_period"] >= 2:
            for p in range(2, lp["cycle_period"] + 1):
                need = p * reps - 1
                if len(H) < need:
                    continue
                seq = [(e.call, e.outcome()) for e in H[len(H) - need:]] + [me]
                if all(seq[i] == seq[i - p] for i in range(p, len(seq))) and \
                        len(set(c for c, _ in seq[:p])) > 1:
                    return "cycle"
        k = lp["errors"]
        if k:
            execs = [i for i, e in enumerate(H) if e.executed and e.call == call]
            if len(execs) >= k:
                last = execs[-k:]
                failed = all(H[i].rep is not None and H[i].rep[0] is False for i in last)
                quiet = all(not (e.executed and e.call != call) for e in H[last[0]:])
                if failed and quiet:
                    return "errors"
        k = lp["stale"]
        if k and not new and len(H) >= k - 1 and \
                all(not e.new for e in H[len(H) - (k - 1):]):
            return "stale"
        k = lp["retries"]
        if k:
            prev = H[max(0, len(H) - (lp["window"] - 1)):]
            if 1 + sum(1 for e in prev if e.executed and e.tool == tool) >= k:
                return "retries"
        return "allow"

    def outcome(self, ok, result=b"", entry=None):
        e = self.last if entry is None else entry
        if e is None or not e.executed or e.rep is not None:
            return
        if all(x is not e for x in self.H):
            return
        e.rep = (bool(ok), bytes(result))


# ---------------------------------------------------------------- trajectories

TRAJ_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "trajectories")
CALL_KEYS = ("tool", "args", "id")


def raw_members(line):
    """The raw text of the top-level `tool`, `args` and `id` members of one JSONL line, in
    their order (the replayer keeps order and escapes). Returns call bytes."""
    dec = json.JSONDecoder()
    s = line.strip()
    assert s[0] == "{"
    i = 1
    parts = []
    ws = re.compile(r"[ \t\r\n]*")
    while True:
        i = ws.match(s, i).end()
        if s[i] == "}":
            break
        key, j = dec.raw_decode(s, i)
        j = ws.match(s, j).end()
        assert s[j] == ":"
        j = ws.match(s, j + 1).end()
        _, k = dec.raw_decode(s, j)
        if key in CALL_KEYS:
            parts.append(s[i:k])
        i = ws.match(s, k).end()
        if s[i] == ",":
            i += 1
    return ("{" + ", ".join(parts) + "}").encode("utf-8")


def load_trajectory(path):
    with open(path, encoding="utf-8") as f:
        lines = [ln for ln in f.read().split("\n") if ln.strip()]
    header = None
    steps = []
    for n, ln in enumerate(lines):
        obj = json.loads(ln)
        if n == 0 and "policy" in obj:
            header = obj
            continue
        steps.append((obj, ln))
    return header, steps


def model_replay(path, keep_history_on_restart=True, lookback_extra=0):
    """-> list of (step number, expected, model verdict) for call steps."""
    header, steps = load_trajectory(path)
    policy = (header or {}).get("policy") or {}
    now = [0]
    g = ModelGuard(policy, lookback_extra=lookback_extra, clock=lambda: now[0])
    entries = []
    out = []
    for n, (st, ln) in enumerate(steps):
        if "t_ms" in st:
            now[0] = st["t_ms"]
        if st.get("restart"):
            old = g
            g = ModelGuard(policy, lookback_extra=lookback_extra, clock=lambda: now[0])
            if policy.get("state_path"):
                g.spends = old.spends
                g.n = old.n
                g.restart(now[0])
                if keep_history_on_restart:
                    g.H = old.H
            continue
        if "report" in st:
            e = entries[st["report"]]
            if e is not None and "ok" in st:
                g.outcome(st["ok"], st.get("result", "").encode("utf-8"), entry=e)
            continue
        v = g.check(raw_members(ln))
        entries.append(g.last)
        if v == "allow" and "ok" in st:
            g.outcome(st["ok"], st.get("result", "").encode("utf-8"))
        out.append((n, st.get("expect"), v))
    return out


# ---------------------------------------------------------------- differential tests

def _guard_mod():
    return pytest.importorskip("microloop_mpy")


def _mk_call(tool, arg):
    return ('{"tool": "%s", "args": {"k": "%s"}}' % (tool, arg)).encode()


def _random_policy(rnd):
    loops = {}
    for k, choices in (("identical", (0, 2, 3, 4)), ("repeat", (0, 2, 3, 4)),
                       ("window", (4, 8, 16)), ("errors", (0, 2, 3)),
                       ("stale", (0, 4, 6, 12)), ("retries", (0, 0, 3, 5)),
                       ("cycle_period", (0, 2, 3, 4)), ("cycle_repeats", (0, 2, 3))):
        loops[k] = rnd.choice(choices)
    tools = {}
    if rnd.random() < 0.2:
        tools["b"] = {"exempt": True}
    if rnd.random() < 0.4:
        over = {}
        for k, choices in (("identical", (0, 2, 4)), ("repeat", (0, 2, 3)), ("errors", (0, 2)),
                           ("stale", (0, 3, 5)), ("retries", (0, 2, 4)),
                           ("cycle_repeats", (0, 2, 4))):
            if rnd.random() < 0.4:
                over[k] = rnd.choice(choices)
        tools["a"] = {"loops": over}
    reps = [loops["cycle_repeats"]] + [t["loops"].get("cycle_repeats", 0)
                                       for t in tools.values() if "loops" in t]
    per = [loops["stale"], loops["identical"]] + [
        t["loops"].get(k, 0) for t in tools.values() if "loops" in t
        for k in ("stale", "identical")]
    hist = max([loops["window"], loops["cycle_period"] * max(reps), 2] + per) + \
        rnd.choice((0, 0, 3, 10))
    pol = {"history": hist, "loops": loops}
    if tools:
        pol["tools"] = tools
    return pol


def _run_diff(seed, steps=60, report_late=False):
    mod = _guard_mod()
    rnd = random.Random(seed)
    pol = _random_policy(rnd)
    models = [ModelGuard(pol, 0), ModelGuard(pol, 1)]
    g = mod.Guard(pol)
    calls = [("a", "1"), ("a", "2"), ("b", "1"), ("c", "x")][:rnd.choice((2, 3, 4))]
    results = [b"same", b"other", b"err %d"]
    pending = []  # (real entry, model entries, ok, result) reported later
    log = []
    for step in range(steps):
        tool, arg = rnd.choice(calls)
        data = _mk_call(tool, arg)
        vs = [m.check(data) for m in models]
        v = g.check(data)
        log.append((tool, arg, vs[0], v))
        if vs[0] != vs[1]:
            return  # the spec's boundary reading decides from here on
        assert (v == mod.ALLOW) == (vs[0] == "allow"), (seed, pol, log)
        if v == mod.ALLOW and rnd.random() < 0.9:
            ok = rnd.random() < 0.7
            res = rnd.choice(results)
            if b"%d" in res:
                res = res % step
            if report_late and rnd.random() < 0.5:
                pending.append((g.last_entry(), [m.last for m in models], ok, res))
            else:
                g.outcome(ok, res)
                for m in models:
                    m.outcome(ok, res)
        if pending and rnd.random() < 0.5:
            ent, ments, ok, res = pending.pop(rnd.randrange(len(pending)))
            g.outcome(ok, res, 0, len(res), ent)
            for m, me in zip(models, ments):
                m.outcome(ok, res, entry=me)


@pytest.mark.parametrize("seed", range(300))
def test_differential_random_sequences(seed):
    _run_diff(seed)


@pytest.mark.parametrize("seed", range(1000, 1200))
def test_differential_late_reports(seed):
    _run_diff(seed, report_late=True)


# ---------------------------------------------------------------- differential: rules

RULE_POOL = [
    {"action": "block", "tool": "shell", "arg": "cmd", "prefix": "rm -rf"},
    {"action": "allow", "tool": "read_file", "arg": "path", "prefix": "/data/"},
    {"action": "block", "tool": "read_file"},
    {"action": "block", "tool": "fs_*"},
    {"action": "allow", "tool": "fs_r*"},
    {"action": "block", "tool": "x*y"},
    {"action": "block", "tool": "send", "arg": "opts.mode", "exact": "force"},
    {"action": "block", "tool": "send", "arg": "n", "exact": 100},
    {"action": "block", "tool": "send", "arg": "n", "exact": None},
    {"action": "block", "tool": "send", "arg": "n", "exact": True},
    {"action": "allow", "tool": "send", "arg": "opts"},
    {"action": "block", "tool": "*", "arg": "opts.mode", "prefix": "dan"},
    {"action": "allow", "tool": "shell", "arg": "cmd", "exact": "ls"},
    {"tool": "send", "count": 2},
    {"tool": "*", "count": 6, "per_s": 10},
    {"tool": "shell", "arg": "cmd", "prefix": "ls", "count": 3},
    {"tool": "read_file", "count": 2, "per_s": 5},
    {"tool": "fs_*", "arg": "path", "prefix": "/data/", "count": 1, "per_s": 3},
]
TOOLS = ["shell", "sh", "fs_read", "fs_", "fs", "read_file", "x*y", "xAy", "send", "Send"]
STRS = ["rm -rf /", "rm -r", "ls", "ls -la", "/data/a.csv", "/data/../etc", "/data/..", "/data",
        "../data/x", "/data/.../x", "force", "forc", "danger", "dan", "", "caf\u00e9 \U0001F600"]


def _enc_str(rnd, s):
    out = ['"']
    for ch in s:
        r = rnd.random()
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif r < 0.25:
            cp = ord(ch)
            if cp > 0xFFFF:
                cp -= 0x10000
                hi, lo = 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF)
                out.append("\\u%04x\\u%04X" % (hi, lo))
            else:
                out.append(("\\u%04x" if rnd.random() < 0.5 else "\\u%04X") % cp)
        elif ch == "/" and r < 0.5:
            out.append("\\/")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _enc(rnd, v):
    if isinstance(v, dict):
        items = list(v.items())
        rnd.shuffle(items)
        return "{" + ", ".join(_enc_str(rnd, k) + ": " + _enc(rnd, x) for k, x in items) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_enc(rnd, x) for x in v) + "]"
    if isinstance(v, str):
        return _enc_str(rnd, v)
    if isinstance(v, tuple):  # a number literal
        return v[1]
    return json.dumps(v)


def _random_args(rnd):
    args = {}
    for key in rnd.sample(["cmd", "path", "opts", "n", "opts.mode"], rnd.randrange(0, 3)):
        if key == "opts":
            args[key] = rnd.choice([{"mode": rnd.choice(STRS)}, {"mode": 1}, [{"mode": "force"}],
                                    {}, {"mode": {"x": "force"}}, "force"])
        elif key == "n":
            args[key] = rnd.choice([("num", "100"), ("num", "100.0"), ("num", "1e2"), "100",
                                    True, False, None, ("num", "-100")])
        else:
            args[key] = rnd.choice(STRS)
    return args


def _random_call(rnd):
    members = [("tool", _enc_str(rnd, rnd.choice(TOOLS)))]
    if rnd.random() < 0.9:
        members.append(("args", _enc(rnd, _random_args(rnd))))
    if rnd.random() < 0.2:
        members.append(("id", _enc(rnd, {"seq": ("num", str(rnd.randrange(99)))})))
    rnd.shuffle(members)
    return ("{" + ", ".join('"%s": %s' % kv for kv in members) + "}").encode("utf-8")


def _category(mod, v):
    if v == mod.ALLOW:
        return "allow"
    if v == mod.RULE_BLOCK:
        return "rule"
    if v == mod.BUDGET_EXHAUSTED:
        return "budget"
    if v in (mod.IDENTICAL, mod.REPEAT, mod.CYCLE, mod.ERROR_LOOP, mod.STALE, mod.RETRIES):
        return "loop"
    return "malformed"


def _model_category(v):
    if v in ("allow", "rule", "budget"):
        return v
    if v.startswith("malformed"):
        return "malformed"
    return "loop"


def _run_rules_diff(seed, steps=80):
    mod = _guard_mod()
    rnd = random.Random(seed)
    rules = rnd.sample(RULE_POOL, rnd.randrange(1, 7))
    pol = {"default": rnd.choice(["allow", "allow", "block"]), "rules": rules}
    if rnd.random() < 0.5:
        pol["loops"] = {"identical": 0, "repeat": 0, "stale": 0, "cycle_period": 0, "errors": 0}
    now = [0]
    models = [ModelGuard(pol, 0, clock=lambda: now[0]), ModelGuard(pol, 1, clock=lambda: now[0])]
    g = mod.Guard(pol, clock=lambda: now[0])
    log = []
    for step in range(steps):
        now[0] += rnd.choice((0, 0, 500, 1000, 2500, 4000))
        data = _random_call(rnd)
        vs = [m.check(data) for m in models]
        v = g.check(data)
        log.append((now[0], data, vs[0], v, g.rule_index()))
        if vs[0] != vs[1]:
            return
        got, want = _category(mod, v), _model_category(vs[0])
        assert got == want, (seed, pol, log[-12:])
        if want in ("rule", "budget"):
            assert g.rule_index() == models[0].rule_idx, (seed, pol, log[-12:])
        elif want == "allow":
            assert g.rule_index() == -1, (seed, pol, log[-12:])
        if v == mod.ALLOW and rnd.random() < 0.8:
            res = rnd.choice((b"ok", b"done", b"x"))
            g.outcome(True, res)
            for m in models:
                m.outcome(True, res)


@pytest.mark.parametrize("seed", range(400))
def test_differential_rules(seed):
    _run_rules_diff(seed)


def _run_fresh_diff(seed, steps=80):
    """Loop detectors with many new calls and failures mixed in (errors, stale, repeat)."""
    mod = _guard_mod()
    rnd = random.Random(seed)
    pol = _random_policy(rnd)
    models = [ModelGuard(pol, 0), ModelGuard(pol, 1)]
    g = mod.Guard(pol)
    fixed = [("a", "1"), ("a", "2"), ("b", "1")]
    log = []
    for step in range(steps):
        if rnd.random() < 0.25:
            tool, arg = rnd.choice(("a", "b", "c")), "fresh%d" % step
        else:
            tool, arg = rnd.choice(fixed)
        data = _mk_call(tool, arg)
        vs = [m.check(data) for m in models]
        v = g.check(data)
        log.append((tool, arg, vs[0], v))
        if vs[0] != vs[1]:
            return
        assert (v == mod.ALLOW) == (vs[0] == "allow"), (seed, pol, log[-15:])
        if v == mod.ALLOW:
            ok = rnd.random() < 0.4
            res = b"same" if rnd.random() < 0.6 else b"r%d" % rnd.randrange(3)
            g.outcome(ok, res)
            for m in models:
                m.outcome(ok, res)


@pytest.mark.parametrize("seed", range(2000, 2300))
def test_differential_fresh_and_failing(seed):
    _run_fresh_diff(seed)
