# microloop_mpy.trajectory -- replays a JSONL trajectory through a Guard and prints one result
# line per step. Runs unchanged on CPython and MicroPython, so the same file gives comparable
# output on every runtime (the parity tests diff it). Allocates freely: this is a test driver,
# not the hot path; but it never calls check() on anything but the call's own bytes.
#
# Step format (README "Trajectories"): an optional first line {"policy": {...}, "name": ...};
# call steps {"tool": ..., "args": {...}, "id": ..., "ok": ..., "result": "...",
# "expect": "allow"|"block", "t_ms": ...}; report steps {"report": K, "ok": ..., "result": ...};
# restart steps {"restart": true}. A call step may carry "raw": "<text>" instead of tool/args:
# its UTF-8 bytes are checked verbatim (hostile input).
# The call bytes keep the raw text of the line's tool/args/id members, in their order, so
# escapes and key order in the file reach the guard unchanged.
import json

from .guard import Guard
from .scan import Scanner
from . import codes

_NAMES = (b'"tool":', b'"args":', b'"id":')
_CPYTHON_ONLY_RULE_KEYS = ("regex", "schema")


class _Lenient(Scanner):
    # reads a step line without judging it: duplicate keys are the guard's to find
    def _push_key(self, base):
        return 0


def call_bytes(line):
    """The call a step line names: its tool/args/id members, raw, in their order (bytes).
    None if the line has none of them. Allocates."""
    sc = _Lenient(64, 256)
    end = len(line)
    i = sc.ws(line, 0, end)
    if i >= end or line[i] != 0x7B:
        return None
    parts = []
    i = sc.ws(line, i + 1, end)
    while i < end and line[i] == 0x22:
        key = i + 1
        i = sc.string(line, key, end, 0, 0)
        if i < 0:
            return None
        i = sc.ws(line, i, end)
        i = sc.ws(line, i + 1, end)  # past ':'
        s = i
        i = sc.value(line, i, end, 2)
        if i < 0:
            return None
        for n in range(3):
            if sc.decoded_cmp(line, key, end, _NAMES[n][1:-2], False) == 1:
                parts.append(_NAMES[n] + line[s:i])
        i = sc.ws(line, i, end)
        if i < end and line[i] == 0x2C:
            i = sc.ws(line, i + 1, end)
    if not parts:
        return None
    return b"{" + b",".join(parts) + b"}"


def _remove_state(path):
    import os

    for name in (path, path + ".tmp"):
        try:
            os.remove(name)
        except OSError:
            pass


def policy_needs_cpython(policy):
    """True when a policy uses CPython-only rule keys (regex, schema)."""
    rules = policy.get("rules", []) if isinstance(policy, dict) else []
    for rule in rules if isinstance(rules, list) else []:
        if isinstance(rule, dict):
            for key in _CPYTHON_ONLY_RULE_KEYS:
                if key in rule:
                    return True
    return False


class Replay:
    """Drives one trajectory: a Guard, the clock, the entry number of each call step."""

    def __init__(self, policy, state_dir=None):
        self.policy = policy
        if isinstance(policy, dict) and policy.get("state_path") and state_dir:
            policy = dict(policy)
            policy["state_path"] = state_dir.rstrip("/") + "/" + policy["state_path"]
            self.policy = policy
        self.now = 0
        if isinstance(self.policy, dict) and self.policy.get("state_path"):
            _remove_state(self.policy["state_path"])  # a trajectory starts from a clean state
        self.guard = self._new_guard()
        self.entries = []
        self.mismatches = 0

    def _new_guard(self):
        return Guard(self.policy, clock=self._clock)

    def _clock(self):
        return self.now

    def step(self, index, line):
        """Run one step line (bytes); returns its result line (str)."""
        step = json.loads(line)
        if "t_ms" in step:
            self.now = step["t_ms"]
        if step.get("restart"):
            self.guard = self._new_guard()
            return '{"step": %d, "kind": "restart"}' % index
        if "report" in step:
            k = step["report"]
            entry = self.entries[k] if 0 <= k < len(self.entries) else -1
            self._report(step, entry)
            return '{"step": %d, "kind": "report", "call_step": %d, "entry": %d}' % (
                index, k, entry)
        if "raw" in step:
            call = step["raw"].encode("utf-8")
        else:
            call = call_bytes(line)
            if call is None:
                raise ValueError("step %d names no call" % index)
        g = self.guard
        v = g.check(call, 0, len(call))
        entry = g.last_entry()
        self.entries.append(entry)
        h = g.last_hash_hex() or "-"
        if v == codes.ALLOW and "ok" in step:
            self._report(step, None)
        expect = step.get("expect")
        match = True
        if expect == "allow":
            match = v == codes.ALLOW
        elif expect == "block":
            match = v != codes.ALLOW
        if not match:
            self.mismatches += 1
        return ('{"step": %d, "kind": "call", "verdict": %d, "hash": "%s", "entry": %d, '
                '"rule": %d, "expect": "%s", "match": %s}') % (
            index, v, h, entry, g.rule_index(), expect or "-", "true" if match else "false")

    def _report(self, step, entry):
        ok = step.get("ok")
        if ok is None:
            return
        result = step.get("result", "")
        data = result.encode("utf-8") if isinstance(result, str) else json.dumps(result).encode()
        if entry is None:
            self.guard.outcome(ok, data, 0, len(data))
        else:
            self.guard.outcome(ok, data, 0, len(data), entry)


def replay_lines(lines, out, state_dir=None, micropython=False):
    """Replay trajectory lines (bytes each), calling out(str) per result. Returns mismatches."""
    policy = None
    replay = None
    index = 0
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if replay is None:
            head = json.loads(line)
            if "policy" in head and "tool" not in head and "raw" not in head:
                policy = head["policy"]
                if micropython and policy_needs_cpython(policy):
                    out("SKIP %s: policy uses CPython-only rules (regex/schema)"
                        % head.get("name", "trajectory"))
                    return 0
                replay = Replay(policy, state_dir)
                continue
            replay = Replay(policy, state_dir)
        out(replay.step(index, line))
        index += 1
    if replay is None:
        replay = Replay(policy, state_dir)
    out('{"done": %d, "mismatches": %d}' % (index, replay.mismatches))
    return replay.mismatches


def main(path, state_dir=None):
    """Replay the trajectory file at path, printing result lines. Returns mismatches."""
    import sys

    with open(path, "rb") as f:
        data = f.read()
    micropython = sys.implementation.name == "micropython"
    return replay_lines(data.split(b"\n"), print, state_dir, micropython)



if __name__ == "__main__":
    import sys

    bad = 0
    for arg in sys.argv[1:]:
        bad += main(arg)
    sys.exit(1 if bad else 0)
