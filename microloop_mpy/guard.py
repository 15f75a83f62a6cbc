# microloop_mpy.guard -- the Guard: decides, before each tool call runs, whether it may run.
# All memory is taken in Guard(...). check() and outcome() never allocate on MicroPython and
# never raise: bad input gets a block code, a bad report is ignored.
# What a policy does not use is not imported (README "RAM"): policy.py only for a policy other
# than None; the reference scanner (scan.py) only where viper is missing or a policy names
# tools or rules; guard_rules, rules, matcher and state only for a policy with rules; nothing
# is imported after Guard(...) returns.
from ._compat import USE_CPYTHON_SCAN, PASS_SCAN, HIST_STEP, array, ticks_ms
from .crc import CrcState, T32, PASS_TABLES, crc_state
from .history import History, F_NEW, T_RETRIES
from . import codes

if USE_CPYTHON_SCAN:
    from ._cpython_scan import FastScanner as _ScannerImpl, FastCrcState as _CrcImpl
else:
    _ScannerImpl = None  # the single pass (viper) or the reference scanner, per Guard
    _CrcImpl = CrcState

KEY_SLOTS = 128  # keys open at once across nested objects; more is TOO_MANY_KEYS
# the CRC register after b"O1" / b"O0": an outcome's hash starts there (ok / failed)
_OUT_OK = crc_state(0xFFFF, 0xFFFF, b"O1")
_OUT_FAILED = crc_state(0xFFFF, 0xFFFF, b"O0")


class _Defaults:
    # compile_policy(None) spelled out, so that Guard(None) does not load policy.py (its
    # validation code is about 4.9 KB of a Pico's heap); test_spec_policy holds the two equal
    history = 32
    max_call_bytes = 65536
    max_depth = 16
    window = 16
    cycle_period = 4
    loops = (3, 4, 3, 12, 0, 3)  # policy.TOOL_LOOP_KEYS order
    tool_names = ()
    tool_exempt = ()
    tool_loops = ()
    default = "allow"
    rules = ()
    state_path = None


class Guard:
    """Loop detection and rules for one agent's tool calls."""

    def __init__(self, policy=None, clock=None):
        if policy is None:
            p = _Defaults
        else:
            from .policy import compile_policy

            p = compile_policy(policy)  # kept only while building: its lists are not needed after
        self.max_call_bytes = p.max_call_bytes
        self._decoder = None  # a reference scanner for decoded comparisons (tools, rules)
        self._io = None  # the native pass's in/out array, where it runs
        if _ScannerImpl is not None:
            self._scanner = _ScannerImpl(p.max_depth, KEY_SLOTS)
            self._decoder = self._scanner
        elif PASS_SCAN is not None:
            from .fastscan import PassScanner

            self._scanner = PassScanner(p.max_depth, KEY_SLOTS)
            self._w = self._scanner.w
            self._io = self._scanner.io
        else:
            from .scan import Scanner

            self._scanner = Scanner(p.max_depth, KEY_SLOTS)
            self._decoder = self._scanner
        if self._decoder is None and (p.tool_names or p.rules or p.default == "block"):
            from .scan import Scanner

            self._decoder = Scanner(p.max_depth, KEY_SLOTS)
        if HIST_STEP is not None and p.history <= 10922:  # the native step: a 16-bit index
            self._history = History(p.history, p.window, p.cycle_period)
        elif USE_CPYTHON_SCAN:
            from ._cpython_history import FastHistory

            self._history = FastHistory(p.history, p.window, p.cycle_period)
        else:
            from .detectors import PyHistory

            self._history = PyHistory(p.history, p.window, p.cycle_period)
        self._crc = _CrcImpl()
        # per-tool settings: register after b"C" + name, decoded length, name bytes
        self._tools = len(p.tool_names)
        self._tool_names = p.tool_names
        self._tool_exempt = p.tool_exempt
        self._tool_rh = []
        self._tool_rl = []
        if p.tool_names:
            from .scan import tool_state
        for name in p.tool_names:
            hi, lo = tool_state(name)
            self._tool_rh.append(hi ^ 0xFFFF)  # compared with check()'s th / tl
            self._tool_rl.append(lo ^ 0xFFFF)
        # thresholds as int arrays (policy.TOOL_LOOP_KEYS order), read by the native step too
        self._loops = array("i", p.loops)
        self._tool_loops = [array("i", t) for t in p.tool_loops]
        # the native history step (a history of up to 10,922 entries: its index is 16-bit)
        self._step = HIST_STEP if type(self._history) is History else None
        self._pending = -1  # entry an outcome() without entry number refers to
        self._last_entry = -1
        self._last_ok = 0  # the last check was well-formed (its identity is known)
        self._rule = -1  # rule that blocked the last check
        self._clock = clock if clock is not None else ticks_ms
        self._rules = None
        self._state_path = p.state_path
        if p.rules or p.default == "block":
            from . import guard_rules

            self._budget = guard_rules  # rules, budgets and the state file (guard_rules.py)
            guard_rules.setup(self, p)
        # the native pass and step with nothing else to do (check()'s shortest path)
        self._plain = (self._io is not None and self._step is not None and self._rules is None
                       and not self._tools)
        self.internal_errors = 0  # checks refused because the guard itself failed (a bug)

    # -- the public interface -----------------------------------------------------------
    def check(self, buf, start=0, end=None):
        """Judge one call held in buf[start:end]. Returns ALLOW (0) or a block code.
        Never raises; never allocates on MicroPython."""
        self._pending = -1
        self._last_entry = -1
        self._last_ok = 0
        self._rule = -1
        try:
            t = type(buf)
            if t is not bytes and t is not bytearray:
                return codes.BAD_SPAN
            size = len(buf)
            if end is None:
                end = size
            if type(start) is not int or type(end) is not int:
                return codes.BAD_SPAN
            if start < 0 or start > end or end > size:
                return codes.BAD_SPAN
            if end - start > self.max_call_bytes:
                return codes.TOO_LARGE
            sc = self._scanner
            io = self._io
            if io is not None:
                # the native pass leaves its results in io (read there: no property calls)
                v = PASS_SCAN(buf, start, end, T32, self._w, PASS_TABLES, io)
                if v:
                    return v
                if self._plain:
                    # no rules, no per-tool settings: straight to the native step. The general
                    # path below does the same with a dozen more bytecodes, 32 µs a check on
                    # the Pico (7%), so the common case on a device is spelled out here.
                    h = self._history
                    sv = h.sv
                    sv[9] = io[3]
                    sv[10] = io[4]
                    sv[16] = 3
                    sv[17] = 0
                    sv[18] = io[5] ^ 0xFFFF
                    sv[19] = io[6] ^ 0xFFFF
                    self._step(sv, self._loops, h.r16, h.fl, h.r32, h.ix)
                    self._last_ok = 1
                    v = sv[21]
                    entry = sv[22]
                    self._last_entry = entry
                    if v == 0:
                        self._pending = entry
                    return v
                ch = io[3]
                cl = io[4]
                th = io[5] ^ 0xFFFF
                tl = io[6] ^ 0xFFFF
                tn = io[7]
            else:
                v = sc.scan(buf, start, end)
                if v:
                    return v
                ch = sc.call_h
                cl = sc.call_l
                th = sc.tool_h ^ 0xFFFF
                tl = sc.tool_l ^ 0xFFFF
                tn = sc.tool_n
            self._last_ok = 1
            d = self._decoder
            if d is not None and d is not sc:
                # tools and rules compare decoded text with the reference scanner: it reads
                # the spans the native pass found (fastscan.py: io's layout)
                d.tool_s = io[8]
                d.tool_e = io[9]
                d.args_s = io[11] - 1
                d.args_e = io[12] if io[11] else -1
            rules = self._rules
            if rules is not None:
                now = self._clock() & self._clock_mask
                if sc.tool_name is not None:  # CPython fast path: conditions cached by bytes
                    v = self._budget.tree_conditions(self, rules, sc)
                    if not v:
                        v = rules.budgets(now)
                else:
                    m = self._raw
                    m.bind(buf, end)
                    v = rules.judge(m, now)
                if v:
                    self._rule = rules.rule
                    return v
            tool = self._tool_index(buf, th, tl, tn) if self._tools else -1
            h = self._history
            step = self._step
            if step is not None:
                # native: prepare, detectors and (without rules) the new entry in one call
                sv = h.sv
                sv[9] = ch
                sv[10] = cl
                sv[16] = 3 if rules is None else 1
                sv[17] = 1 if tool >= 0 and self._tool_exempt[tool] else 0
                sv[18] = th
                sv[19] = tl
                thr = self._loops if tool < 0 else self._tool_loops[tool]
                v = step(sv, thr, h.r16, h.fl, h.r32, h.ix)
                if rules is None:
                    entry = sv[22]
                    v = sv[21]
                    self._last_entry = entry
                    if v == codes.ALLOW:
                        self._pending = entry
                    return v
                if v == codes.ALLOW:
                    v = self._budget.spend(self, now)
                    if v:
                        return v
                sv[16] = 2
                sv[20] = 1 if v == codes.ALLOW else 0
                entry = step(sv, thr, h.r16, h.fl, h.r32, h.ix)
                self._last_entry = entry
                if v == codes.ALLOW:
                    self._pending = entry
                return v
            h.prepare(ch, cl)
            thr = self._loops
            if tool >= 0:
                thr = self._tool_loops[tool]
            new = h.sv[11] & F_NEW  # the candidate's flags (history.py _C_FL)
            if (tool >= 0 and self._tool_exempt[tool]) or (new and not thr[T_RETRIES]):
                v = codes.ALLOW  # exempt; or a new call, which only `retries` could stop
            else:
                v = h.judge(thr, th, tl)
            if rules is not None and v == codes.ALLOW:
                v = self._budget.spend(self, now)
                if v:
                    return v
            entry = h.add(v == codes.ALLOW, th, tl)
            self._last_entry = entry
            if v == codes.ALLOW:
                self._pending = entry
            return v
        except Exception:  # fail closed: a bug must not let a call through or crash the agent
            self._pending = -1
            self._last_entry = -1
            self.internal_errors += 1
            return codes.INTERNAL

    def outcome(self, ok, buf=None, start=0, end=None, entry=None):
        """Report how an allowed call went: ok=False when the tool itself failed (raised, timed
        out, did not run); the result bytes buf[start:end] (none: empty). Without `entry`, the
        last check. Ignored, never raised, when it does not apply. Does not allocate."""
        try:
            if entry is None:
                entry = self._pending
            if type(entry) is not int or entry < 0:
                return
            if ok is True or ok == 1:
                failed = 0
            elif ok is False or ok == 0:
                failed = 1
            else:
                return
            crc = self._crc
            hi, lo = _OUT_FAILED if failed else _OUT_OK
            crc.start(hi, lo)
            if buf is not None:
                t = type(buf)
                if t is not bytes and t is not bytearray:
                    return
                size = len(buf)
                if end is None:
                    end = size
                if type(start) is not int or type(end) is not int:
                    return
                if start < 0 or start > end or end > size:
                    return
                crc.span(buf, start, end)
            self._history.report(entry, failed, crc.hi ^ 0xFFFF, crc.lo ^ 0xFFFF)
        except Exception:
            return

    def reason(self, code):
        """Short constant message for a verdict code. Does not allocate."""
        return codes.reason(code)

    def reset(self):
        """Forget the loop history and the pending outcome (a new task). Does not allocate."""
        self._history.clear()
        self._pending = -1
        self._last_entry = -1

    def last_entry(self):
        """Number of the history entry the last check made, or -1. Does not allocate."""
        return self._last_entry

    def rule_index(self):
        """Index in policy["rules"] of the rule that blocked the last check, or -1."""
        return self._rule

    def last_hash_hex(self):
        """Identity of the last well-formed call, 8 hex digits (allocates: diagnostics)."""
        if not self._last_ok:
            return None
        io = self._io
        if io is not None:
            return "%04x%04x" % (io[3], io[4])
        return "%04x%04x" % (self._scanner.call_h, self._scanner.call_l)

    def clear_budgets(self):
        """Forget every spend of every count rule (an operator's action); saved at once when
        the policy has a state_path. Allocates (file I/O)."""
        r = self._rules
        if r is None:
            return
        r.clear()
        for i in range(r.n):
            self._reserved[i] = 0
            self._since[i] = self._res_b[i]
        if self._state_path:
            st = self._state
            st.write(self._state_path, st.encode(r, self._reserved, self._history))

    def schema_message(self):
        """The JSON Schema validator's message for the last SCHEMA_INVALID (CPython)."""
        return self._rules.schema_message if self._rules is not None else None

    # -- internals ------------------------------------------------------------------------
    def _tool_index(self, buf, th, tl, tn):
        # index of the call's tool among the policy's per-tool settings, or -1: its register
        # (th, tl, as check() has it) and decoded length first, then the decoded name
        d = self._decoder  # synced with the scanner's spans by check()
        for k in range(self._tools):
            if (self._tool_rh[k] == th and self._tool_rl[k] == tl
                    and len(self._tool_names[k]) == tn
                    and d.tool_is(buf, self._tool_names[k])):
                return k
        return -1
