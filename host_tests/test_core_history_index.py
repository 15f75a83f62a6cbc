# The history's identity index (call -> slot of its latest entry) against a brute-force scan
# of the ring, over random call streams that wrap the ring many times, with colliding homes.
import random

import pytest

from microloop_mpy.detectors import PyHistory as History


def brute_latest(h, ch, cl):
    for back in range(h.n):
        s = h.slot(back)
        if h.ch[s] == ch and h.cl[s] == cl:
            return s
    return -1


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 32, 100])
def test_index_agrees_with_a_scan(size):
    rng = random.Random(size)
    h = History(size, 1, 0)
    # few distinct identities, many sharing a home slot, so probing and deletion are exercised
    calls = [(rng.randrange(4), rng.randrange(1 << 16)) for _ in range(size * 2 + 3)]
    for step in range(2000):
        c = rng.choice(calls)
        h.prepare(*c)
        assert h.latest(*c) == brute_latest(h, *c)
        h.add(rng.random() < 0.5, 0, 0)
        for probe in (calls if size <= 8 else rng.sample(calls, 8)):
            assert h.latest(*probe) == brute_latest(h, *probe), (step, probe)
        if step % 701 == 700:
            h.clear()
            assert all(h.latest(*p) == -1 for p in calls)


def test_errors_chain_survives_a_restart(tmp_path):
    # the errors detector walks executed entries through links; a restored history must
    # rebuild them: two failures saved, a restart, one more failure, then the storm is blocked
    from microloop_mpy import ERROR_LOOP, ALLOW, Guard

    policy = {"state_path": str(tmp_path / "g.state"), "rules": [{"tool": "*", "count": 10}]}
    call = b'{"tool": "fetch", "args": {"url": "http://127.0.0.1:9/"}}'
    g = Guard(policy)
    for attempt in range(3):
        assert g.check(call) == ALLOW
        g.outcome(False, b"connection refused #%d" % attempt)
    g = Guard(policy)  # the save before the 3rd attempt held the first two failures
    assert g.check(call) == ALLOW
    g.outcome(False, b"connection refused #3")
    assert g.check(call) == ERROR_LOOP
    g = Guard({**policy, "state_path": str(tmp_path / "fresh.state")})
    assert g.check(call) == ALLOW  # without the saved history there is no storm yet


def test_repeat_chain_survives_a_restart(tmp_path):
    # the repeat detector walks the call's own entries through links; a restored history
    # must rebuild them (identical and cycle are off to isolate repeat)
    from microloop_mpy import REPEAT, ALLOW, Guard

    policy = {"state_path": str(tmp_path / "g.state"), "rules": [{"tool": "*", "count": 10}],
              "loops": {"identical": 0, "cycle_repeats": 0}}
    call = b'{"tool": "pytest", "args": {"path": "tests/test_io.py"}}'
    g = Guard(policy)
    for _ in range(3):
        assert g.check(call) == ALLOW
        g.outcome(True, b"1 failed, 4 passed")
    g = Guard(policy)  # the save before the 3rd run held the first two
    assert g.check(call) == ALLOW
    g.outcome(True, b"1 failed, 4 passed")
    assert g.check(call) == REPEAT


def test_repeat_counts_only_since_the_latest_new_entry():
    from microloop_mpy import REPEAT, ALLOW, Guard

    g = Guard({"loops": {"identical": 0, "cycle_repeats": 0, "stale": 0}})
    run = b'{"tool": "pytest", "args": {}}'
    for i in range(3):
        assert g.check(run) == ALLOW
        g.outcome(True, b"1 failed")
    edit = b'{"tool": "edit", "args": {"text": "fix"}}'
    assert g.check(edit) == ALLOW  # new: the count restarts here
    g.outcome(True, b"ok")
    for i in range(3):
        assert g.check(run) == ALLOW
        g.outcome(True, b"1 failed")
    assert g.check(run) == REPEAT
