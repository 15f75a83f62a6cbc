# Runs on CPython, the unix port and the wasm port: replays trajectories with
# micropython.heap_lock() held around every check() and outcome(), and a 20-rule policy over a
# mixed call stream. Prints the verdict lines; the last line counts allocation failures.
# state_path is dropped (writing a reservation allocates, by design; see test_core_state.py).
import sys
import json
from microloop_mpy import Guard
from microloop_mpy._compat import heap_lock, heap_unlock
from microloop_mpy.trajectory import Replay, policy_needs_cpython

FAILS = [0, 0]  # allocation failures, internal errors


class Locked:
    """A Guard whose check() and outcome() run with the heap locked."""

    def __init__(self, guard):
        self.g = guard

    def check(self, buf, start, end):
        g = self.g
        v = -1
        heap_lock()
        try:
            v = g.check(buf, start, end)
        except MemoryError:
            v = -2
        heap_unlock()
        if v == -2:
            FAILS[0] += 1
        return v

    def outcome(self, ok, buf, start, end, entry=None):
        g = self.g
        bad = 0
        heap_lock()
        try:
            g.outcome(ok, buf, start, end, entry)
        except MemoryError:
            bad = 1
        heap_unlock()
        FAILS[0] += bad

    def last_entry(self):
        return self.g.last_entry()

    def last_hash_hex(self):
        return self.g.last_hash_hex()

    def rule_index(self):
        return self.g.rule_index()


class LockedReplay(Replay):
    def _new_guard(self):
        g = Guard(self.policy, clock=self._clock)
        self.raw_guards.append(g)
        return Locked(g)

    def __init__(self, policy, state_dir=None):
        self.raw_guards = []
        if isinstance(policy, dict) and "state_path" in policy:
            policy = dict(policy)
            del policy["state_path"]
        Replay.__init__(self, policy, None)


def replay_file(path):
    with open(path, "rb") as f:
        lines = [x for x in f.read().split(b"\n") if x.strip()]
    head = json.loads(lines[0])
    policy = head.get("policy") if "policy" in head else None
    if policy is not None and policy_needs_cpython(policy):
        print("SKIP", path)
        return
    if policy is not None:
        lines = lines[1:]
    r = LockedReplay(policy)
    for i in range(len(lines)):
        print(r.step(i, lines[i]))
    for g in r.raw_guards:
        FAILS[1] += g.internal_errors


RULES20 = {
    "default": "allow",
    "rules": [
        {"action": "block", "tool": "delete_file"},
        {"action": "block", "tool": "shell", "arg": "cmd", "prefix": "rm -rf"},
        {"action": "block", "tool": "shell", "arg": "cmd", "prefix": "mkfs"},
        {"action": "block", "tool": "http_get", "arg": "url", "prefix": "http://169.254."},
        {"action": "block", "tool": "http_get", "arg": "url", "prefix": "http://localhost"},
        {"action": "allow", "tool": "read_file", "arg": "path", "prefix": "/data/"},
        {"action": "block", "tool": "read_file"},
        {"action": "block", "tool": "set_relay", "arg": "state", "exact": "on"},
        {"action": "block", "tool": "set_pwm", "arg": "duty", "exact": 100},
        {"action": "block", "tool": "set_mode", "arg": "opts.mode", "exact": "unsafe"},
        {"action": "block", "tool": "fs_*", "arg": "force", "exact": True},
        {"action": "block", "tool": "db_*", "arg": "sql", "prefix": "DROP"},
        {"action": "allow", "tool": "log", "arg": "level"},
        {"action": "block", "tool": "reboot", "arg": "now", "exact": None},
        {"tool": "send_sms", "count": 5},
        {"tool": "set_relay", "count": 10, "per_s": 60},
        {"tool": "http_get", "count": 50, "per_s": 10},
        {"tool": "fs_*", "count": 100},
        {"tool": "*", "count": 400},
        {"tool": "shell", "arg": "cmd", "prefix": "git ", "count": 20},
    ],
}
CALLS = [
    b'{"tool": "shell", "args": {"cmd": "git status"}}',
    b'{"tool": "shell", "args": {"cmd": "\\u0072m -rf /"}}',
    b'{"tool": "sh\\u0065ll", "args": {"cmd": "ls -la"}}',
    b'{"tool": "http_get", "args": {"url": "http://169.254.169.254/latest"}}',
    b'{"tool": "http_get", "args": {"url": "https://example.com/a"}}',
    b'{"tool": "read_file", "args": {"path": "/data/../etc/passwd"}}',
    b'{"tool": "read_file", "args": {"path": "/data/log.csv"}}',
    b'{"tool": "set_relay", "args": {"state": "off", "pin": 5}}',
    b'{"tool": "set_relay", "args": {"state": "on", "pin": 5}}',
    b'{"tool": "set_pwm", "args": {"duty": 100}}',
    b'{"tool": "set_pwm", "args": {"duty": "100"}}',
    b'{"tool": "set_mode", "args": {"opts": {"mode": "unsafe"}}}',
    b'{"tool": "fs_write", "args": {"path": "/x", "force": true}}',
    b'{"tool": "fs_write", "args": {"path": "/x", "force": false}}',
    b'{"tool": "db_query", "args": {"sql": "DROP TABLE t"}}',
    b'{"tool": "send_sms", "args": {"to": "+1555", "text": "hi"}}',
    b'{"tool": "reboot", "args": {"now": null}}',
    b'{"tool": "log", "args": {"level": "info", "msg": "ok"}}',
]


def run_rules():
    now = [0]
    g = Guard(RULES20, clock=lambda: now[0])
    lg = Locked(g)
    out = []
    for i in range(300):
        now[0] = i * 700
        call = CALLS[(i * 7) % len(CALLS)]
        v = lg.check(call, 0, len(call))
        if v == 0:
            lg.outcome(True, b"done", 0, 4, None)
        out.append("%d:%d" % (v, g.rule_index()))
        if i % 50 == 49:
            g.reset()
    print("RULES20", " ".join(out))
    FAILS[1] += g.internal_errors


def run_long_stream(steps=4000):
    """A long mixed stream on a small ring (history 16): thousands of wraps of the ring, the
    index's deletions, the detector chains, late reports by entry, per-tool settings, resets.
    A linear congruential generator keeps it identical on every runtime."""
    policy = {"history": 16, "loops": {"window": 8, "stale": 6, "retries": 0},
              "tools": {"poll": {"exempt": True}, "fetch": {"loops": {"retries": 5}}}}
    g = Guard(policy)
    lg = Locked(g)
    tools = (b"read", b"fetch", b"poll", b"edit", b"pytest")
    calls = []
    for i in range(40):
        calls.append(b'{"tool": "%s", "args": {"k": %d, "p": "/d/%d"}}'
                     % (tools[i % 5], i % 7, i % 3))
    results = (b"ok", b"same", b"err: refused", b"1 failed", b"")
    seed = 12345
    pending = []
    digest = 0
    counts = [0] * 32
    for i in range(steps):
        seed = (seed * 1103515245 + 12345) & 0x3FFFFFFF
        call = calls[(seed >> 8) % (8 if (i // 500) % 2 else 40)]  # phases of 8 and 40 calls
        v = lg.check(call, 0, len(call))
        counts[v] += 1
        digest = (digest * 31 + v + 1) & 0xFFFFFF
        if v == 0:
            e = g.last_entry()
            r = results[(seed >> 4) % (2 if (i // 250) % 2 else 5)]
            ok = ((seed >> 3) & 7) != 0
            if (seed >> 2) & 3 == 0:
                pending.append((e, ok, r))  # reported later, by entry
            else:
                lg.outcome(ok, r, 0, len(r), None)
        if pending and (seed >> 12) & 1:
            e, ok, r = pending.pop(0)
            lg.outcome(ok, r, 0, len(r), e)
        if i % 997 == 996:
            g.reset()
    print("LONG", digest, " ".join(str(c) for c in counts[:8]))
    FAILS[1] += g.internal_errors


if __name__ == "__main__":
    for path in sys.argv[1:]:
        replay_file(path)
    run_rules()
    run_long_stream()
    print("FAILS", FAILS[0], FAILS[1])
