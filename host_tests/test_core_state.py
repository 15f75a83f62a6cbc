# Budgets survive a reboot (issue 8): the state file written at budget reservations.
#
# Reservation size per count rule: B = max(1, min(8, count // 8)). A save happens inside check()
# only when a count rule the call hits has used up its reservation (and at clear_budgets()); it
# reserves the next B spends of every count rule before the call is allowed. On restart a
# lifetime rule resumes at its reserved value, a per_s rule's reserved spends count as made at
# boot (clock() when the Guard is built); a torn or corrupt file exhausts every count rule until
# clear_budgets() and prints a log line.
#
# What a kill can cost (the bound the kill -9 test asserts): at any moment the file holds
# S0 + B for a rule, S0 being the spends made before the last save, and the process has made
# S0 + j spends, 0 <= j <= B, printed all but at most the one in flight. So one life killed after
# a save loses at most B of the budget (over-count), and never gains any (under-count): per life
#   0 <= reserved_after - reserved_before - allowed_seen <= B.
import binascii
import json
import math
import os
import random
import select
import signal
import subprocess
import time

import pytest

from microloop_mpy import (ALLOW, BUDGET_EXHAUSTED, IDENTICAL, REPEAT, RULE_BLOCK, Guard,
                           state)
from microloop_mpy.rules import rule_key
from runtimes import ROOT, command, run_mp

WORKER = ROOT / "host_tests" / "mp_state_worker.py"


def B(count):
    return max(1, min(8, count // 8))


def call(tool, **args):
    return json.dumps({"tool": tool, "args": args}).encode()


def records(path):
    """{rule key: (kind, reserved)} of the state file at path ({} when there is none)."""
    if not os.path.exists(path):
        return {}
    got = state.decode(open(path, "rb").read())
    assert got is not None, "the state file at %s does not decode" % path
    return got[0]


def reserved(path, rule):
    rec = records(path).get(rule_key(rule))
    return 0 if rec is None else rec[1]


def reseal(body):
    """body (everything but the CRC) with a valid CRC32 trailer: corrupt but checksummed."""
    return bytes(body) + binascii.crc32(bytes(body)).to_bytes(4, "big")


class Clock:
    def __init__(self, t=0):
        self.t = t

    def __call__(self):
        return self.t


# -- 1. kill -9 between calls ------------------------------------------------------------------
class Life:
    """One run of mp_state_worker.py under `runtime`, talked to line by line."""

    def __init__(self, runtime, path, policy, tag):
        argv, env = command(runtime, WORKER, [path, json.dumps(policy), tag])
        self.runtime = runtime
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.fd = self.proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.buf = b""

    def _fail(self, why):
        self.proc.kill()
        self.proc.wait()
        err = self.proc.stderr.read().decode("utf-8", "replace")
        raise AssertionError("[%s] %s; stdout so far %r; stderr:\n%s"
                             % (self.runtime, why, self.buf, err))

    def line(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self._fail("no complete line within %gs (stdout buffered?)" % timeout)
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                chunk = os.read(self.fd, 4096)
                if not chunk:
                    self._fail("worker exited early")
                self.buf += chunk
        text, self.buf = self.buf.split(b"\n", 1)
        return text.decode()

    def send(self, n):
        self.proc.stdin.write(b"g\n" * n)
        self.proc.stdin.flush()

    def kill(self):
        """SIGKILL, then everything the worker had written: lines, and a last partial line."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=20)
        os.set_blocking(self.fd, True)
        rest = self.buf + self.proc.stdout.read()
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return [x.decode() for x in rest.split(b"\n") if x]

    def finish(self):
        self.proc.stdin.close()
        os.set_blocking(self.fd, True)
        out = self.buf + self.proc.stdout.read()
        err = self.proc.stderr.read()
        rc = self.proc.wait(timeout=20)
        assert rc == 0, (rc, out, err)
        return out.decode().splitlines()


KILL_LIFETIME = {"rules": [{"tool": "send_sms", "count": 50},  # B = 6
                           {"tool": "*", "count": 100000},  # B = 8: hit by every call too
                           {"tool": "set_relay", "count": 3}]}
KILL_PER_S = {"rules": [{"tool": "send_sms", "count": 40, "per_s": 86400},  # B = 5
                        {"tool": "*", "count": 1000}]}


def run_lives(tmp_path, cycle, policy, seed):
    """Kill and restart the worker until its send_sms budget is exhausted; check every life."""
    rng = random.Random(seed)
    path = str(tmp_path / "guard_state.bin")
    rule = policy["rules"][0]
    n_budget, b, per_s = rule["count"], B(rule["count"]), "per_s" in rule
    total = 0
    losses = []
    lives = []
    exhausted = False
    k = 0
    while not exhausted:
        assert k < 300, "budget never exhausted after %d lives (total allowed %d)" % (k, total)
        runtime = cycle[k % len(cycle)]
        before = reserved(path, rule)
        life = Life(runtime, path, policy, "%d" % k)
        assert life.line() == "READY"
        sent = rng.randint(1, 12)
        wait_for = rng.randint(1 if k == 0 else 0, sent)  # life 0: its first save is complete
        life.send(sent)
        seen = [life.line() for _ in range(wait_for)]
        # the lines reached us while the worker was still running: its stdout is not buffered
        assert life.proc.poll() is None
        if rng.random() < 0.5:  # else kill at once (the worker is idle when all were read)
            time.sleep(rng.uniform(0, 0.003))
        seen += life.kill()
        allowed = [x for x in seen if x.startswith("A")]
        blocked = [x for x in seen if x.startswith("B")]
        for x in blocked:  # complete lines, or the piece of one the kill cut
            assert "B 8 0".startswith(x), (runtime, k, seen)
        if blocked:
            first_b = seen.index(blocked[0])
            assert not [x for x in seen[first_b:] if x.startswith("A")], (runtime, k, seen)
            exhausted = True
        after = reserved(path, rule)
        start = min(before, n_budget) if per_s else before
        if after == before:
            # no save, no allowed call: the first allowed call of a life always saves first
            assert not allowed, (runtime, k, before, after, seen)
        else:
            loss = after - start - len(allowed)
            assert 0 <= loss <= b, (
                "life %d on %s: the file went %d -> %d with %d calls allowed: %s"
                % (k, runtime, before, after, len(allowed),
                   "an UNDER-count" if loss < 0 else "over-count above B=%d" % b))
            losses.append(loss)
        total += len(allowed)
        assert total <= n_budget, "%d allowed in total across lives, budget %d" % (total, n_budget)
        lives.append((runtime, len(allowed), before, after))
        k += 1
    # one more life, not killed: still spent
    last = Life(cycle[k % len(cycle)], path, policy, "final")
    assert last.line() == "READY"
    last.send(3)
    assert [last.line() for _ in range(3)] == ["B 8 0"] * 3
    assert last.finish() == ["END"]
    assert total >= n_budget - sum(losses), (total, losses)
    assert total >= n_budget - b * len(losses), (total, losses)
    return lives, total, losses


@pytest.mark.parametrize("cycle,policy,seed", [
    (("cpython",), KILL_LIFETIME, 11),
    (("unix",), KILL_LIFETIME, 12),
    (("cpython", "unix"), KILL_LIFETIME, 13),
    (("unix", "cpython"), KILL_LIFETIME, 14),
    (("unix", "cpython"), KILL_PER_S, 15),
], ids=["cpython", "unix", "cpython-then-unix", "unix-then-cpython", "per_s-mixed"])
def test_kill_9_between_calls_never_refills_the_budget(tmp_path, cycle, policy, seed):
    for round_ in range(3):  # three independent runs (fresh state file), fixed seeds
        where = tmp_path / ("round%d" % round_)
        where.mkdir()
        lives, total, losses = run_lives(where, cycle, policy, seed * 100 + round_)
        print("lives %d, allowed %d of %d, over-count per saved life %s"
              % (len(lives), total, policy["rules"][0]["count"], losses))
        assert len(lives) >= 3, lives
        if len(cycle) == 2:  # a state written by one runtime was resumed by the other, both ways
            handoffs = set()
            writer = None
            for rt, _, before, after in lives:
                if writer is not None:
                    handoffs.add((writer, rt))
                if after != before:
                    writer = rt
            assert {("cpython", "unix"), ("unix", "cpython")} <= handoffs, lives


# -- 2. the state file is written only at reservation refills ---------------------------------
def test_state_written_only_at_reservation_refills(tmp_path, monkeypatch):
    path = str(tmp_path / "s.bin")
    sms = {"tool": "send_sms", "count": 200}  # B = 8
    pay = {"tool": "pay", "count": 1}
    policy = {"state_path": path, "rules": [{"action": "block", "tool": "delete_file"}, sms, pay]}
    g = Guard(policy)
    n = {"sms": 0}
    writes = []
    real = state.write

    def counting(p, data):
        writes.append(n["sms"])
        real(p, data)
        # the reservation covers this call and the next B-1
        assert reserved(path, sms) == n["sms"] + 8

    monkeypatch.setattr(state, "write", counting)
    rng = random.Random(2)
    uid = 0
    last_sms = None
    seen = set()
    while n["sms"] < 100:
        kind = rng.choice(("sms", "sms", "sms", "again", "delete", "read", "pay"))
        if not writes:
            kind = "sms"  # the first save reserves pay's 1 spend as well
        before = len(writes)
        if kind in ("sms", "again"):
            if kind == "sms" or last_sms is None:
                uid += 1
                last_sms = call("send_sms", to="+1555", text="msg %d" % uid)
            v = g.check(last_sms)
            assert v in (ALLOW, IDENTICAL, REPEAT), v
            seen.add(v)
            if v == ALLOW:
                n["sms"] += 1
            else:
                assert len(writes) == before, "a loop-blocked call wrote the state file"
        elif kind == "delete":
            assert g.check(call("delete_file", path="/x%d" % uid)) == RULE_BLOCK
            assert len(writes) == before, "a rule-blocked call wrote the state file"
        elif kind == "read":  # a tool without count rules
            uid += 1
            assert g.check(call("read_file", path="/d/%d" % uid)) == ALLOW
            assert len(writes) == before, "a call hitting no count rule wrote the state file"
        else:
            uid += 1
            v = g.check(call("pay", amount=uid))
            assert v in (ALLOW, BUDGET_EXHAUSTED)
            seen.add(v)
            assert len(writes) == before, "pay wrote: its 1 spend was reserved by the first save"
        assert len(writes) == math.ceil(n["sms"] / 8), (n["sms"], writes)
    assert {IDENTICAL, BUDGET_EXHAUSTED} <= seen, seen  # both kinds of blocked call occurred
    assert len(writes) == 13  # ceil(100 / 8)
    assert writes == list(range(0, 100, 8))
    data = open(path, "rb").read()
    for i in range(4):  # 96's save reserved up to 104: four more calls are covered
        assert g.check(call("send_sms", to="+1555", text="tail %d" % i)) == ALLOW
        n["sms"] += 1
    assert len(writes) == 13 and open(path, "rb").read() == data
    assert g.check(call("send_sms", to="+1555", text="tail 4")) == ALLOW
    assert len(writes) == 14


@pytest.mark.parametrize("runtime", ["cpython", "unix"])
def test_write_count_and_file_bytes_on_each_runtime(tmp_path, runtime):
    # the same count on MicroPython (module attribute patched inside the run), and one file
    # format: the same calls give the same bytes on both runtimes
    path = tmp_path / ("%s.bin" % runtime)
    code = """
import sys
from microloop_mpy import Guard, state
path = sys.argv[1]
real = state.write
n = [0]
def counting(p, data):
    n[0] += 1
    real(p, data)
state.write = counting
g = Guard({"state_path": path, "rules": [{"tool": "send_sms", "count": 200},
          {"tool": "set_relay", "count": 10, "per_s": 60}]}, clock=lambda: 123456)
allowed = 0
for i in range(100):
    allowed += g.check(b'{"tool": "send_sms", "args": {"n": %d}}' % i) == 0
    g.outcome(True, b"sent")
for i in range(3):
    allowed += g.check(b'{"tool": "read_file", "args": {"n": %d}}' % i) == 0
g.check(b'{"tool": "set_relay", "args": {"on": true}}')
print(allowed, n[0])
f = open(path, "rb")
print(f.read().hex())
f.close()
"""
    out = run_mp(runtime, code, [str(path)], timeout=60).split()
    # ceil(100 / 8) for send_sms; set_relay's first spend (B = 1) was reserved by those saves
    assert out[:2] == ["103", "13"], out
    data = bytes.fromhex(out[2])
    assert state.decode(data) is not None
    ref = tmp_path / "ref.bin"
    if runtime == "unix":
        run_mp("cpython", code, [str(ref)], timeout=60)
        assert ref.read_bytes() == data, "the unix port and CPython wrote different state files"


# -- 3. torn, corrupt, wrong version: fail closed until clear_budgets() ------------------------
TORN_RULES = [{"tool": "send_sms", "count": 50},
              {"tool": "set_relay", "count": 10, "per_s": 60},
              {"action": "block", "tool": "delete_file"}]


def torn_policy(path):
    return {"state_path": str(path), "rules": TORN_RULES}


@pytest.fixture(scope="module")
def good_state(tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "s.bin"
    g = Guard(torn_policy(path), clock=Clock(5000))
    for i in range(3):
        assert g.check(call("send_sms", to="+1", n=i)) == ALLOW
        g.outcome(True, b"queued")
    assert g.check(call("set_relay", on=True)) == ALLOW
    assert g.check(call("read_file", path="/a")) == ALLOW
    data = path.read_bytes()
    assert state.decode(data) is not None
    return data


def assert_fails_closed(path, capsys, what, clear=True):
    clock = Clock(7000)
    capsys.readouterr()
    g = Guard(torn_policy(path), clock=clock)
    log = capsys.readouterr().out
    assert "microloop: state file %s is torn or corrupt" % path in log, (what, log)
    assert "clear_budgets()" in log, (what, log)
    v = g.check(call("send_sms", to="+1", n=99))
    assert (v, g.rule_index()) == (BUDGET_EXHAUSTED, 0), (what, v, g.rule_index())
    v = g.check(call("set_relay", on=False))
    assert (v, g.rule_index()) == (BUDGET_EXHAUSTED, 1), (what, v, g.rule_index())
    assert g.check(call("read_file", path="/b")) == ALLOW, what  # no count rule: unaffected
    assert g.check(call("delete_file", path="/b")) == RULE_BLOCK, what
    if not clear:
        return
    # a restart before the operator acts is still exhausted
    g2 = Guard(torn_policy(path), clock=clock)
    assert g2.check(call("send_sms", to="+1", n=98)) == BUDGET_EXHAUSTED, what
    capsys.readouterr()
    g.clear_budgets()
    got = state.decode(path.read_bytes())
    assert got is not None, what  # saved at once, in the good format
    assert got[0][rule_key(TORN_RULES[0])] == (0, 0), (what, got[0])
    assert g.check(call("send_sms", to="+1", n=97)) == ALLOW, what
    assert g.check(call("set_relay", on=True)) == ALLOW, what
    g3 = Guard(torn_policy(path), clock=clock)
    assert "torn" not in capsys.readouterr().out
    assert g3.check(call("send_sms", to="+1", n=96)) == ALLOW, what


def put(path, data):
    for p in (path, str(path) + ".tmp"):
        if os.path.exists(p):
            os.remove(p)
    with open(path, "wb") as f:
        f.write(data)


def test_torn_file_at_every_length_fails_closed(tmp_path, capsys, good_state):
    # length 0 included: an empty state file is a torn one too (write() never leaves one; a cut
    # write or a power loss on FAT/ext4 after the rename, before the data reached flash, can)
    path = tmp_path / "s.bin"
    for n in range(len(good_state)):
        put(path, good_state[:n])
        assert_fails_closed(path, capsys, "truncated to %d of %d bytes" % (n, len(good_state)))


def test_flipped_byte_fails_closed(tmp_path, capsys, good_state):
    path = tmp_path / "s.bin"
    for i in range(len(good_state)):
        for mask in (0x01, 0x80, 0xFF):
            bad = bytearray(good_state)
            bad[i] ^= mask
            put(path, bytes(bad))
            # the whole clear_budgets() cycle on a sample, the exhaustion on every one
            assert_fails_closed(path, capsys, "byte %d ^ 0x%02x" % (i, mask),
                                clear=(i % 16 == 0 and mask == 0xFF))


def test_wrong_version_magic_or_layout_fails_closed(tmp_path, capsys, good_state):
    path = tmp_path / "s.bin"
    body = bytearray(good_state[:-4])
    assert body[:5] == b"MLGS\x01"
    cases = {}
    for version in (0, 2, 255):
        b2 = bytearray(body)
        b2[4] = version
        cases["version %d" % version] = reseal(b2)
    cases["magic"] = reseal(b"MLGT" + body[4:])
    cases["trailing byte"] = reseal(body + b"\x00")
    cases["missing byte"] = reseal(body[:-1])
    b2 = bytearray(body)
    b2[5:7] = (0xFFFF).to_bytes(2, "big")  # more rule records than the file holds
    cases["rule count"] = reseal(b2)
    for what, data in cases.items():
        put(path, data)
        assert_fails_closed(path, capsys, what)


def test_cut_between_remove_and_rename_resumes_from_the_temp_file(tmp_path, capsys, good_state):
    # write()'s fallback for filesystems that refuse to rename onto a file: remove, then rename;
    # a cut between the two leaves only the complete temp file, which is resumed
    path = tmp_path / "s.bin"
    put(path, b"")
    os.remove(path)
    with open(str(path) + ".tmp", "wb") as f:
        f.write(good_state)
    g = Guard(torn_policy(path), clock=Clock(7000))
    assert "torn" not in capsys.readouterr().out
    left = 50 - reserved(str(path) + ".tmp", TORN_RULES[0])
    assert 0 < left <= 47
    for i in range(left):
        assert g.check(call("send_sms", to="+1", n=i)) == ALLOW
    assert g.check(call("send_sms", to="+1", n=1000)) == BUDGET_EXHAUSTED
    # and a torn temp file with no state file: fail closed
    os.remove(path)
    with open(str(path) + ".tmp", "wb") as f:
        f.write(good_state[:20])
    assert_fails_closed(path, capsys, "only a torn temp file", clear=False)


# -- 4. spends are keyed by each rule's own content ---------------------------------------------
def test_editing_one_rule_keeps_the_other_rules_spends(tmp_path):
    path = str(tmp_path / "s.bin")
    sms = {"tool": "send_sms", "count": 20}  # B = 2
    email = {"tool": "email", "count": 16}  # B = 2
    relay = {"tool": "set_relay", "count": 10, "per_s": 600}  # B = 1
    anyc = {"tool": "*", "count": 100}  # B = 8
    clock = Clock(1000)
    g = Guard({"state_path": path, "rules": [sms, email, relay, anyc]}, clock=clock)
    spent = {"sms": 5, "email": 3, "relay": 2}
    for i in range(spent["sms"]):
        assert g.check(call("send_sms", n=i)) == ALLOW
    for i in range(spent["email"]):
        assert g.check(call("email", n=i)) == ALLOW
    for i in range(spent["relay"]):
        assert g.check(call("set_relay", n=i)) == ALLOW
    r_email, r_relay, r_any = reserved(path, email), reserved(path, relay), reserved(path, anyc)
    # never under-count, over-count at most B
    assert spent["email"] <= r_email <= spent["email"] + 2
    assert spent["relay"] <= r_relay <= spent["relay"] + 1
    assert 10 <= r_any <= 10 + 8
    # edit the sms rule (a new count), move every rule, put a new block rule first
    sms2 = {"tool": "send_sms", "count": 21}
    assert rule_key(sms2) != rule_key(sms)
    assert rule_key(dict(reversed(list(email.items())))) == rule_key(email)  # content, not order
    edited = [{"action": "block", "tool": "shell"}, anyc, relay, email, sms2]
    g2 = Guard({"state_path": path, "rules": edited}, clock=Clock(2000))
    # the edited rule is a new budget: all 21
    for i in range(21):
        assert g2.check(call("send_sms", n=100 + i)) == ALLOW, i
    assert g2.check(call("send_sms", n=999)) == BUDGET_EXHAUSTED and g2.rule_index() == 4
    # the others kept their spends (as reserved)
    for i in range(16 - r_email):
        assert g2.check(call("email", n=100 + i)) == ALLOW, i
    assert g2.check(call("email", n=999)) == BUDGET_EXHAUSTED and g2.rule_index() == 3
    for i in range(10 - r_relay):
        assert g2.check(call("set_relay", n=100 + i)) == ALLOW, i
    assert g2.check(call("set_relay", n=999)) == BUDGET_EXHAUSTED and g2.rule_index() == 2
    used = r_any + 21 + (16 - r_email) + (10 - r_relay)
    assert used < 100
    # the old rule's record is gone from the next save; the "*" rule resumed too
    recs = records(path)
    assert rule_key(sms) not in recs and rule_key(sms2) in recs
    assert reserved(path, anyc) >= used


# -- 5. per_s across a restart: spends count as made at boot --------------------------------------
def test_per_s_spends_count_as_made_at_boot(tmp_path):
    path = str(tmp_path / "s.bin")
    relay = {"tool": "set_relay", "count": 2, "per_s": 60}  # B = 1
    policy = {"state_path": path, "rules": [relay]}
    clock = Clock(10000)
    g = Guard(policy, clock=clock)
    assert g.check(call("set_relay", on=True)) == ALLOW
    assert g.check(call("set_relay", on=False)) == ALLOW
    assert g.check(call("set_relay", on=True, n=3)) == BUDGET_EXHAUSTED
    assert reserved(path, relay) == 2
    # without a restart the window ends at 70 s
    live = Guard({"rules": [relay]}, clock=Clock(10000))
    assert live.check(call("set_relay", on=True)) == ALLOW
    assert live.check(call("set_relay", on=False)) == ALLOW
    live._clock.t = 70000
    assert live.check(call("set_relay", on=True, n=3)) == ALLOW
    # restart at 30 s: both spends count as made at 30 s, blocked until 90 s
    clock = Clock(30000)
    g2 = Guard(policy, clock=clock)
    for t in (30000, 69999, 70000, 89999):
        clock.t = t
        v = g2.check(call("set_relay", on=True, t=t))
        assert v == BUDGET_EXHAUSTED, "allowed at t=%d ms after a restart at 30 s" % t
    clock.t = 90000
    assert g2.check(call("set_relay", on=True, t=90000)) == ALLOW
    assert g2.check(call("set_relay", on=False, t=90000)) == ALLOW
    assert g2.check(call("set_relay", on=True, t=90001)) == BUDGET_EXHAUSTED


def test_per_s_reservation_counts_as_spent_at_boot(tmp_path):
    # count 16 per_s 60: B = 2; 3 spends leave a reservation of 4, all of them made at boot
    path = str(tmp_path / "s.bin")
    rule = {"tool": "set_relay", "count": 16, "per_s": 60}
    clock = Clock(1000)
    g = Guard({"state_path": path, "rules": [rule]}, clock=clock)
    for i in range(3):
        assert g.check(call("set_relay", n=i)) == ALLOW
    assert reserved(path, rule) == 4
    clock = Clock(500000)
    g2 = Guard({"state_path": path, "rules": [rule]}, clock=clock)
    clock.t = 510000
    for i in range(12):
        assert g2.check(call("set_relay", n=100 + i)) == ALLOW, i
    assert g2.check(call("set_relay", n=200)) == BUDGET_EXHAUSTED
    clock.t = 559999
    assert g2.check(call("set_relay", n=201)) == BUDGET_EXHAUSTED
    clock.t = 560000  # the 4 boot spends (500 s) expire; the 12 made at 510 s still count
    for i in range(4):
        assert g2.check(call("set_relay", n=300 + i)) == ALLOW, i
    assert g2.check(call("set_relay", n=400)) == BUDGET_EXHAUSTED


# -- 6. the loop history survives a restart; reset() clears the saved copy at the next save ------
def history_entries(g):
    h = g._history
    return [(h.ch[s], h.cl[s], h.th[s], h.tl[s], h.oh[s], h.ol[s], h.fl[s])
            for s in (h.slot(back) for back in range(h.n - 1, -1, -1))], h.seq


def test_loop_history_survives_a_restart_and_reset_clears_it_at_the_next_save(tmp_path):
    path = str(tmp_path / "s.bin")
    policy = {"state_path": path, "rules": [{"tool": "sync", "count": 1000}]}  # B = 8
    x = call("browser_open", url="https://portal.example.com/login")
    g = Guard(policy)
    for _ in range(2):
        assert g.check(x) == ALLOW
        g.outcome(True, b"Login | Too many attempts")
    assert g.check(x) == IDENTICAL
    before_sync = history_entries(g)
    assert g.check(call("sync", n=1)) == ALLOW  # its reservation ran out: saved here
    got = state.decode(open(path, "rb").read())
    assert (got[1], got[2]) == before_sync  # the entries and numbering before the save
    # restart: the identical loop is still blocked (a guard with no saved history allows it)
    g2 = Guard(policy)
    assert history_entries(g2) == before_sync
    assert g2.check(x) == IDENTICAL
    fresh = Guard({"state_path": str(tmp_path / "other.bin"), "rules": policy["rules"]})
    assert fresh.check(x) == ALLOW
    # reset(): the saved copy stays until the next save ...
    g2.reset()
    assert g2.check(x) == ALLOW
    assert Guard(policy).check(x) == IDENTICAL
    # ... which clears it (the save is made before this call's own entry is added)
    g2.reset()
    assert g2.check(call("sync", n=2)) == ALLOW
    assert state.decode(open(path, "rb").read())[1] == []
    g3 = Guard(policy)
    assert [g3.check(x) for _ in range(3)] == [ALLOW, ALLOW, IDENTICAL]


def test_repeat_loop_verdict_is_the_same_live_and_after_a_restart(tmp_path):
    # the entries saved at a reservation are enough for the restarted guard to give the live
    # guard's verdict: X, X, X, then a known (not new) sync call, then X is a REPEAT on both
    path = str(tmp_path / "s.bin")
    policy = {"state_path": path, "rules": [{"tool": "sync", "count": 8}],  # B = 1
              "loops": {"identical": 0}}
    x = call("poll_inbox", folder="INBOX")
    sync = call("sync", full=False)
    g = Guard(policy)
    assert g.check(sync) == ALLOW
    for _ in range(3):
        assert g.check(x) == ALLOW
        g.outcome(True, b"0 new messages")
    assert g.check(sync) == ALLOW  # saved: sync, X, X, X
    g2 = Guard(policy)
    assert g.check(x) == REPEAT
    assert g2.check(x) == REPEAT
