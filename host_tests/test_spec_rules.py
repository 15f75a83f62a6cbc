"""Rule engine details from issue 8 that trajectories cannot express: rule_index() for budgets,
clock-driven per_s windows, and budgets that survive a reboot (state_path): never under-count,
per_s spends count as made at boot, a corrupt state file fails closed until clear_budgets(),
spends keyed by rule content, writes only at reservation refills, kill -9 between calls on
CPython and the unix port with lives alternating between them. Written from the spec.
"""
import os
import random
import signal
import subprocess
import sys
import time

import pytest

import microloop_mpy as M
from microloop_mpy import ALLOW, Guard

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")
HAVE_MP = os.path.isfile(MICROPYTHON) and os.access(MICROPYTHON, os.X_OK)


def sms(i, life=0):
    return b'{"tool": "send_sms", "args": {"to": "+15550100", "text": "alert %d/%d"}}' % (life, i)


def door(i):
    return b'{"tool": "unlock_door", "args": {"door": "d%d"}}' % i


def other(i):
    return b'{"tool": "read_sensor", "args": {"id": %d}}' % i


class Clock:
    def __init__(self, t=0):
        self.t = t

    def __call__(self):
        return self.t


# ------------------------------------------------------------------ rule_index, spends

def test_rule_index_names_first_exhausted_budget():
    g = Guard({"rules": [{"tool": "*", "count": 1}, {"tool": "send_sms", "count": 1}]})
    assert g.check(sms(0)) == ALLOW
    assert g.rule_index() == -1
    assert g.check(sms(1)) == M.BUDGET_EXHAUSTED
    assert g.rule_index() == 0
    g = Guard({"rules": [{"tool": "send_sms", "count": 5}, {"tool": "*", "count": 1}]})
    assert g.check(other(0)) == ALLOW
    assert g.check(sms(1)) == M.BUDGET_EXHAUSTED
    assert g.rule_index() == 1


def test_rule_index_for_block_rules_and_default():
    g = Guard({"default": "block", "rules": [
        {"action": "allow", "tool": "read_sensor"},
        {"action": "block", "tool": "send_sms", "arg": "to", "prefix": "+1555"}]})
    assert g.check(other(1)) == ALLOW
    assert g.rule_index() == -1
    assert g.check(sms(1)) == M.RULE_BLOCK
    assert g.rule_index() == 1
    assert g.check(door(1)) == M.RULE_BLOCK
    assert g.rule_index() == -1
    assert g.check(b"{") != ALLOW
    assert g.rule_index() == -1


def test_blocked_calls_spend_nothing():
    g = Guard({"rules": [{"action": "block", "tool": "send_sms", "arg": "text", "prefix": "spam"},
                         {"tool": "*", "count": 3}]})
    assert g.check(b'{"tool": "send_sms", "args": {"text": "spam 1"}}') == M.RULE_BLOCK
    a = b'{"tool": "ping", "args": {}}'
    assert g.check(a) == ALLOW
    assert g.check(a) == ALLOW
    assert g.check(a) == M.IDENTICAL  # loop block: spends nothing
    assert g.check(b"{bad") != ALLOW
    assert g.check(other(1)) == ALLOW  # third spend
    assert g.check(other(2)) == M.BUDGET_EXHAUSTED


def test_per_s_window_with_clock():
    clk = Clock()
    g = Guard({"rules": [{"tool": "unlock_door", "count": 2, "per_s": 10}]}, clock=clk)
    assert g.check(door(0)) == ALLOW
    clk.t = 4000
    assert g.check(door(1)) == ALLOW
    clk.t = 9999
    assert g.check(door(2)) == M.BUDGET_EXHAUSTED
    clk.t = 10000  # the spend at 0 stops counting at 0 + 10 s
    assert g.check(door(2)) == ALLOW
    clk.t = 13999
    assert g.check(door(3)) == M.BUDGET_EXHAUSTED
    clk.t = 14000
    assert g.check(door(3)) == ALLOW


def test_reset_does_not_refill_clear_budgets_does():
    clk = Clock()
    g = Guard({"rules": [{"tool": "unlock_door", "count": 1, "per_s": 60},
                         {"tool": "send_sms", "count": 1}]}, clock=clk)
    assert g.check(door(0)) == ALLOW
    assert g.check(sms(0)) == ALLOW
    g.reset()
    assert g.check(door(1)) == M.BUDGET_EXHAUSTED
    assert g.check(sms(1)) == M.BUDGET_EXHAUSTED
    g.clear_budgets()
    assert g.check(door(1)) == ALLOW
    assert g.check(sms(1)) == ALLOW


# ------------------------------------------------------------------ state_path: restarts

def _pol(path, rules):
    return {"state_path": str(path), "rules": rules}


SMS3 = {"tool": "send_sms", "count": 3}
DOOR2 = {"tool": "unlock_door", "count": 2}


def test_restart_never_under_counts(tmp_path):
    sp = tmp_path / "guard.state"
    allowed = 0
    for life in range(6):
        g = Guard(_pol(sp, [{"tool": "send_sms", "count": 7}]))
        for i in range(2):
            if g.check(sms(i, life)) == ALLOW:
                allowed += 1
        del g
    assert allowed <= 7
    g = Guard(_pol(sp, [{"tool": "send_sms", "count": 7}]))
    assert g.check(sms(99, 99)) == M.BUDGET_EXHAUSTED


def test_exhausted_budget_survives_restart(tmp_path):
    sp = tmp_path / "guard.state"
    g = Guard(_pol(sp, [SMS3, DOOR2]))
    for i in range(3):
        assert g.check(sms(i)) == ALLOW
    assert g.check(sms(3)) == M.BUDGET_EXHAUSTED
    assert os.path.exists(sp), "state_path is written"
    g2 = Guard(_pol(sp, [SMS3, DOOR2]))
    assert g2.check(sms(4)) == M.BUDGET_EXHAUSTED
    assert g2.check(door(0)) == ALLOW  # a rule never spent before the restart
    assert g2.check(other(0)) == ALLOW  # no count rule


def test_per_s_spends_count_as_made_at_boot(tmp_path):
    sp = tmp_path / "guard.state"
    rule = {"tool": "unlock_door", "count": 2, "per_s": 60}
    clk = Clock(0)
    g = Guard(_pol(sp, [rule]), clock=clk)
    assert g.check(door(0)) == ALLOW
    clk.t = 1000
    assert g.check(door(1)) == ALLOW
    clk.t = 30000
    assert g.check(door(2)) == M.BUDGET_EXHAUSTED
    g2 = Guard(_pol(sp, [rule]), clock=clk)  # boot at 30000
    clk.t = 61000  # the original spends would have expired by now
    assert g2.check(door(2)) == M.BUDGET_EXHAUSTED
    clk.t = 89999
    assert g2.check(door(2)) == M.BUDGET_EXHAUSTED
    clk.t = 90000  # boot + 60 s: every pre-boot spend has stopped counting
    assert g2.check(door(2)) == ALLOW


def test_spends_keyed_by_rule_content(tmp_path):
    sp = tmp_path / "guard.state"
    g = Guard(_pol(sp, [SMS3, DOOR2]))
    for i in range(3):
        assert g.check(sms(i)) == ALLOW
    for i in range(2):
        assert g.check(door(i)) == ALLOW
    # reordered: both still spent
    g = Guard(_pol(sp, [DOOR2, SMS3]))
    assert g.check(sms(10)) == M.BUDGET_EXHAUSTED
    assert g.check(door(10)) == M.BUDGET_EXHAUSTED
    # a rule added in front: the others keep their spends
    g = Guard(_pol(sp, [{"tool": "email", "count": 4}, SMS3, DOOR2]))
    assert g.check(sms(11)) == M.BUDGET_EXHAUSTED
    assert g.check(door(11)) == M.BUDGET_EXHAUSTED
    assert g.check(b'{"tool": "email", "args": {"to": "a"}}') == ALLOW
    # one rule edited: the other is not refilled
    g = Guard(_pol(sp, [{"tool": "send_sms", "count": 4}, DOOR2]))
    assert g.check(door(12)) == M.BUDGET_EXHAUSTED


def test_clear_budgets_is_saved(tmp_path):
    sp = tmp_path / "guard.state"
    g = Guard(_pol(sp, [SMS3]))
    for i in range(3):
        assert g.check(sms(i)) == ALLOW
    assert g.check(sms(3)) == M.BUDGET_EXHAUSTED
    g.clear_budgets()
    g2 = Guard(_pol(sp, [SMS3]))
    assert g2.check(sms(4)) == ALLOW


def _spend_some(sp):
    g = Guard(_pol(sp, [{"tool": "send_sms", "count": 50}, {"tool": "unlock_door", "count": 50}]))
    assert g.check(sms(0)) == ALLOW
    assert g.check(door(0)) == ALLOW
    assert os.path.exists(sp)
    with open(sp, "rb") as f:
        return f.read()


CORRUPTIONS = {
    "flip_middle": lambda d: d[:len(d) // 2] + bytes([d[len(d) // 2] ^ 0x10]) + d[len(d) // 2 + 1:],
    "flip_last": lambda d: d[:-1] + bytes([d[-1] ^ 0x01]),
    "flip_first": lambda d: bytes([d[0] ^ 0x80]) + d[1:],
    "truncated_half": lambda d: d[:len(d) // 2],
    "truncated_one": lambda d: d[:-1],
    "empty": lambda d: b"",
    "garbage": lambda d: bytes(random.Random(5).randrange(256) for _ in range(len(d))),
    "zeros": lambda d: b"\x00" * len(d),
    "extended": lambda d: d + b"\x00\x01",
}


@pytest.mark.parametrize("how", sorted(CORRUPTIONS))
def test_corrupt_state_fails_closed_until_clear_budgets(tmp_path, how):
    sp = tmp_path / "guard.state"
    data = _spend_some(sp)
    bad = CORRUPTIONS[how](data)
    assert bad != data
    with open(sp, "wb") as f:
        f.write(bad)
    pol = _pol(sp, [{"tool": "send_sms", "count": 50}, {"tool": "unlock_door", "count": 50}])
    g = Guard(pol)  # never raises: fails closed
    assert g.check(sms(1)) == M.BUDGET_EXHAUSTED
    assert g.check(door(1)) == M.BUDGET_EXHAUSTED
    assert g.check(other(1)) == ALLOW  # no count rule: unaffected
    g2 = Guard(pol)  # still exhausted after another restart
    assert g2.check(sms(2)) == M.BUDGET_EXHAUSTED
    g2.clear_budgets()
    assert g2.check(sms(3)) == ALLOW
    assert g2.check(door(3)) == ALLOW
    g3 = Guard(pol)
    assert g3.check(sms(4)) == ALLOW


def _fingerprint(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    with open(path, "rb") as f:
        return (st.st_ino, st.st_mtime_ns, f.read())


def test_state_written_only_at_reservation_refills(tmp_path):
    sp = tmp_path / "guard.state"
    g = Guard(_pol(sp, [{"tool": "send_sms", "count": 1000}]))
    prev = _fingerprint(sp)
    for i in range(40):  # calls no count rule matches: never a write
        assert g.check(other(i)) == ALLOW
        g.outcome(True, b"21.5")
        fp = _fingerprint(sp)
        assert fp == prev, "state written on a call that spends nothing (call %d)" % i
    writes = 0
    for i in range(60):
        assert g.check(sms(i)) == ALLOW
        fp = _fingerprint(sp)
        if fp != prev:
            writes += 1
            prev = fp
    assert 1 <= writes <= 30, "expected one write per B > 1 allowed calls, got %d/60" % writes


# ------------------------------------------------------------------ kill -9, two runtimes

CHILD = r"""
import sys
sys.path.insert(0, %(root)r)
from microloop_mpy import Guard, ALLOW, BUDGET_EXHAUSTED
life = int(sys.argv[1])
g = Guard({"state_path": %(sp)r, "rules": [{"tool": "send_sms", "count": %(n)d}]})
sys.stdout.write("R\n")
i = 0
while True:
    v = g.check(b'{"tool": "send_sms", "args": {"life": %%d, "i": %%d}}' %% (life, i))
    if v == ALLOW:
        sys.stdout.write("A\n")
    elif v == BUDGET_EXHAUSTED:
        sys.stdout.write("X\n")
        break
    else:
        sys.stdout.write("V%%d\n" %% v)
    i += 1
    if i %% 3 == 0:
        j = 0
        while j < 2000:
            j += 1
"""


def _runtimes():
    rts = [("cpython", [sys.executable, "-u"])]
    if HAVE_MP:
        rts.append(("unix", [MICROPYTHON]))
    return rts


@pytest.mark.parametrize("mix", ["cpython", "alternate"])
def test_kill_9_between_calls_never_exceeds_budget(tmp_path, mix):
    if mix == "alternate" and not HAVE_MP:
        pytest.skip("MicroPython unix port not installed (.venv/bin/micropython)")
    n = 25
    sp = str(tmp_path / "budget.state")
    script = tmp_path / "child.py"
    script.write_text(CHILD % {"root": ROOT, "sp": sp, "n": n})
    rts = _runtimes() if mix == "alternate" else _runtimes()[:1]
    rnd = random.Random(1234)
    total = 0
    exhausted = False
    lives = 0
    for life in range(60):
        name, cmd = rts[life % len(rts)]
        p = subprocess.Popen(cmd + [str(script), str(life)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, cwd=ROOT)
        # wait until the guard is built, then let it run a random while and kill it
        line = p.stdout.readline()
        assert line == b"R\n", (name, line, p.stderr.read())
        time.sleep(rnd.choice((0, 0.0005, 0.001, 0.002, 0.005)))
        try:
            p.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = p.communicate(timeout=30)
        lives += 1
        assert b"V" not in out, (name, out[-200:])
        total += out.count(b"A\n")
        assert total <= n, "life %d (%s): %d allowed in total, budget %d" % (life, name, total, n)
        if b"X\n" in out:
            exhausted = True
            break
    # one last clean life on each runtime: nothing more is allowed
    for name, cmd in rts:
        r = subprocess.run(cmd + [str(script), "999"], capture_output=True, timeout=60, cwd=ROOT)
        total += r.stdout.count(b"A\n")
        assert total <= n, (name, total)
        assert b"X\n" in r.stdout, (name, r.stdout[-200:], r.stderr[-500:])
    assert exhausted or lives == 60


@pytest.mark.skipif(not HAVE_MP, reason="MicroPython unix port not installed")
def test_state_written_by_one_runtime_resumed_by_the_other(tmp_path):
    sp = str(tmp_path / "x.state")
    script = tmp_path / "child.py"
    n = 6
    script.write_text(CHILD.replace("while True:", "while i < 4:") % {
        "root": ROOT, "sp": sp, "n": n})
    allowed = 0
    for cmd in ([sys.executable], [MICROPYTHON], [sys.executable], [MICROPYTHON]):
        r = subprocess.run(cmd + [str(script), str(allowed)], capture_output=True, timeout=60,
                           cwd=ROOT)
        assert r.returncode == 0, (cmd, r.stdout, r.stderr)
        allowed += r.stdout.count(b"A\n")
        assert allowed <= n
    assert b"X\n" in r.stdout


@pytest.mark.skipif(not HAVE_MP, reason="MicroPython unix port not installed")
@pytest.mark.parametrize("rule", [
    {"action": "block", "tool": "http_get", "arg": "url", "regex": "^http://"},
    {"tool": "query_db", "schema": {"type": "object"}},
])
def test_micropython_refuses_cpython_only_rules(rule):
    code = ("import sys\nsys.path.insert(0, %r)\nfrom microloop_mpy import Guard\n"
            "try:\n    Guard({'rules': [%r]})\n    print('ACCEPTED')\n"
            "except Exception as e:\n    print('REFUSED', type(e).__name__, e)\n") % (ROOT, rule)
    r = subprocess.run([MICROPYTHON, "-c", code], capture_output=True, timeout=60, cwd=ROOT)
    assert b"REFUSED" in r.stdout, (r.stdout, r.stderr)


def test_cpython_regex_and_schema():
    pytest.importorskip("jsonschema")
    g = Guard({"rules": [
        {"action": "block", "tool": "shell", "arg": "cmd", "prefix": "git ", "regex": "--force"},
        {"tool": "query_db", "schema": {"type": "object", "required": ["sql"],
                                        "properties": {"sql": {"type": "string"}}}},
        {"action": "allow", "tool": "query_db"}]})
    assert g.check(b'{"tool": "shell", "args": {"cmd": "git push --force"}}') == M.RULE_BLOCK
    assert g.rule_index() == 0
    assert g.check(b'{"tool": "shell", "args": {"cmd": "echo --force"}}') == ALLOW
    assert g.check(b'{"tool": "shell", "args": {"cmd": "git\\u0020push \\u002d-force"}}') == \
        M.RULE_BLOCK
    assert g.check(b'{"tool": "query_db", "args": {"sql": 1}}') == M.SCHEMA_INVALID
    assert g.rule_index() == 1
    assert g.check(b'{"tool": "query_db", "args": {}}') == M.SCHEMA_INVALID
    assert g.check(b'{"tool": "query_db", "args": {"sql": "SELECT 1"}}') == ALLOW


def test_schema_blocked_calls_make_no_entry():
    # "calls already blocked by a rule or budget make none": a schema rule is a rule. With
    # stale 3, entries of the blocked calls (X, X, X: two of them not new) would make the
    # next A stale; without them the two entries before A are B (new) and A.
    pytest.importorskip("jsonschema")
    g = Guard({"loops": {"stale": 3}, "rules": [
        {"tool": "query_db", "schema": {"type": "object", "required": ["sql"]}}]})
    a = b'{"tool": "fetch", "args": {"u": "a"}}'
    assert g.check(a) == ALLOW
    assert g.check(b'{"tool": "fetch", "args": {"u": "b"}}') == ALLOW
    x = b'{"tool": "query_db", "args": {"q": 1}}'
    for _ in range(3):
        assert g.check(x) == M.SCHEMA_INVALID
        assert g.last_entry() == -1
    assert g.check(a) == ALLOW


def test_per_s_longest_window():
    clk = Clock(0)
    g = Guard({"rules": [{"tool": "unlock_door", "count": 1, "per_s": 86400}]}, clock=clk)
    assert g.check(door(0)) == ALLOW
    clk.t = 86399999
    assert g.check(door(1)) == M.BUDGET_EXHAUSTED
    clk.t = 86400000
    assert g.check(door(1)) == ALLOW


def test_per_s_near_the_top_of_the_clock_range():
    clk = Clock(2 ** 29 - 70000)
    g = Guard({"rules": [{"tool": "unlock_door", "count": 1, "per_s": 60}]}, clock=clk)
    assert g.check(door(0)) == ALLOW
    clk.t = 2 ** 29 - 10001
    assert g.check(door(1)) == M.BUDGET_EXHAUSTED
    clk.t = 2 ** 29 - 10000
    assert g.check(door(1)) == ALLOW


FRESH_STATE_SCRIPT = r"""
import os
p = "/tmp/microloop-spec-fresh-%d.state" % %(n)d
for name in (p, p + ".tmp"):
    try:
        os.remove(name)
    except OSError:
        pass
from microloop_mpy import Guard
g = Guard({"state_path": p, "rules": [{"tool": "send_sms", "count": 2}]})
print("V", g.check(b'{"tool": "send_sms", "args": {"n": 1}}'),
      g.check(b'{"tool": "send_sms", "args": {"n": 2}}'),
      g.check(b'{"tool": "send_sms", "args": {"n": 3}}'))
"""


@pytest.mark.parametrize("rt", ["cpython", "unix", "wasm"])
def test_first_boot_without_a_state_file_has_the_full_budget(rt):
    # No state file yet is a first boot, not a torn file: budgets start full on every runtime
    # ("One file format on every runtime"; the budget trajectories must give identical
    # verdicts on CPython, the unix port and the wasm port).
    runtimes = pytest.importorskip("runtimes")
    out = runtimes.run_mp(rt, FRESH_STATE_SCRIPT.replace("%(n)d", str(os.getpid())), timeout=120)
    line = [ln for ln in out.splitlines() if ln.startswith("V ")][-1]
    assert line.split()[1:] == [str(ALLOW), str(ALLOW), str(M.BUDGET_EXHAUSTED)], out
