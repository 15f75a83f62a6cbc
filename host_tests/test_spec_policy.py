"""Policy validation (issue 7 "Policy", issue 8 "Policy errors") and the outcome()/last_entry()/
reset() rules of issue 7's interface section. Written from the spec, run on CPython.

Proof style for "ignored": a report that should be ignored, if it were applied, changes the
outcome identity of an entry and so flips a later verdict of the identical detector (3).
"""
import pytest

import microloop_mpy as M
from microloop_mpy import ALLOW, IDENTICAL, Guard

A = b'{"tool": "fetch", "args": {"url": "https://a.example/"}}'
B = b'{"tool": "fetch", "args": {"url": "https://b.example/"}}'
C = b'{"tool": "fetch", "args": {"url": "https://c.example/"}}'
D = b'{"tool": "fetch", "args": {"url": "https://d.example/"}}'
E = b'{"tool": "fetch", "args": {"url": "https://e.example/"}}'
BAD = b'{"tool": "fetch", "args": {"url": '


def refused(policy, *names):
    with pytest.raises(ValueError) as ei:
        Guard(policy)
    msg = str(ei.value)
    assert any(n in msg for n in names), "ValueError %r does not name %s" % (msg, names)


def accepted(policy):
    Guard(policy)


# ------------------------------------------------------------------ valid policies

@pytest.mark.parametrize("policy", [
    None, {}, {"history": 32}, {"loops": {}}, {"tools": {}},
    {"history": 32, "max_call_bytes": 65536, "max_depth": 16,
     "loops": {"identical": 3, "repeat": 4, "window": 16, "errors": 3, "stale": 12,
               "retries": 0, "cycle_period": 4, "cycle_repeats": 3}, "tools": {}},
    {"tools": {"read_sensor": {"exempt": True}, "fetch_page": {"loops": {"stale": 20}}}},
    {"tools": {"x": {"exempt": False}}},
    {"tools": {"x": {"loops": {"identical": 0, "repeat": 2, "errors": 0, "stale": 2,
                               "retries": 2, "cycle_repeats": 2}}}},
    {"loops": {"identical": 0, "repeat": 0, "errors": 0, "stale": 0, "retries": 0,
               "cycle_period": 0, "cycle_repeats": 0}},
    {"loops": {"identical": 2, "repeat": 2, "errors": 2, "stale": 2, "retries": 2,
               "cycle_period": 2, "cycle_repeats": 2}},
    {"loops": {"window": 1}},
    {"history": 1, "loops": {"window": 1, "identical": 0, "stale": 0, "cycle_period": 0}},
    {"history": 16, "loops": {"stale": 16, "identical": 16}},
    {"history": 12, "loops": {"window": 12}},
    {"history": 16, "loops": {"cycle_period": 4, "cycle_repeats": 4}},
    {"max_call_bytes": 1}, {"max_depth": 2}, {"history": 1000},
])
def test_valid_policies(policy):
    accepted(policy)


def test_policy_dict_is_not_needed_after_construction():
    pol = {"loops": {"identical": 2}}
    g = Guard(pol)
    pol["loops"]["identical"] = 0
    assert g.check(A) == ALLOW
    assert g.check(A) == IDENTICAL


# ------------------------------------------------------------------ unknown keys

@pytest.mark.parametrize("policy,key", [
    ({"histroy": 32}, "histroy"),
    ({"loops": {"identicall": 3}}, "identicall"),
    ({"loops": {"max_depth": 3}}, "max_depth"),
    ({"tools": {"x": {"exmpt": True}}}, "exmpt"),
    ({"tools": {"x": {"loops": {"foo": 1}}}}, "foo"),
    ({"tools": {"x": {"exempt": True, "rules": []}}}, "rules"),
    ({"max_bytes": 100}, "max_bytes"),
])
def test_unknown_keys(policy, key):
    refused(policy, key)


# ------------------------------------------------------------------ wrong types

INT_KEYS_TOP = ("history", "max_call_bytes", "max_depth")
INT_KEYS_LOOPS = ("identical", "repeat", "window", "errors", "stale", "retries", "cycle_period",
                  "cycle_repeats")
WRONG = (True, False, 3.0, 16.0, "3", None, [3], {"n": 3})


@pytest.mark.parametrize("key", INT_KEYS_TOP)
@pytest.mark.parametrize("val", WRONG, ids=repr)
def test_wrong_type_top(key, val):
    refused({key: val}, key)


@pytest.mark.parametrize("key", INT_KEYS_LOOPS)
@pytest.mark.parametrize("val", WRONG, ids=repr)
def test_wrong_type_loops(key, val):
    refused({"loops": {key: val}}, key)


@pytest.mark.parametrize("key", ("identical", "repeat", "errors", "stale", "retries",
                                 "cycle_repeats"))
@pytest.mark.parametrize("val", (True, 2.0, "2"), ids=repr)
def test_wrong_type_per_tool_loops(key, val):
    refused({"tools": {"x": {"loops": {key: val}}}}, key)


@pytest.mark.parametrize("policy,key", [
    ({"loops": []}, "loops"), ({"loops": 3}, "loops"), ({"tools": []}, "tools"),
    ({"tools": {"x": True}}, "x"), ({"tools": {"x": {"exempt": 1}}}, "exempt"),
    ({"tools": {"x": {"exempt": "yes"}}}, "exempt"), ({"tools": {"x": {"loops": []}}}, "loops"),
    ({"tools": {"x": {"exempt": None}}}, "exempt"),
])
def test_wrong_type_containers(policy, key):
    refused(policy, key)


# ------------------------------------------------------------------ ranges

@pytest.mark.parametrize("key", ("identical", "repeat", "stale", "retries", "cycle_repeats",
                                 "errors", "cycle_period"))
@pytest.mark.parametrize("val", (1, -1, -2, -100))
def test_threshold_one_or_negative(key, val):
    refused({"loops": {key: val}}, key)


@pytest.mark.parametrize("key", ("identical", "repeat", "stale", "retries", "cycle_repeats",
                                 "errors"))
@pytest.mark.parametrize("val", (1, -1))
def test_threshold_one_or_negative_per_tool(key, val):
    refused({"tools": {"x": {"loops": {key: val}}}}, key)


@pytest.mark.parametrize("policy,key", [
    ({"loops": {"window": 0}}, "window"), ({"loops": {"window": -1}}, "window"),
    ({"history": 0}, "history"), ({"history": -1}, "history"),
    ({"max_call_bytes": 0}, "max_call_bytes"), ({"max_call_bytes": -5}, "max_call_bytes"),
    ({"max_depth": 1}, "max_depth"), ({"max_depth": 0}, "max_depth"),
    ({"max_depth": -1}, "max_depth"),
])
def test_ranges(policy, key):
    refused(policy, key)


@pytest.mark.parametrize("policy,keys", [
    ({"history": 15}, ("history", "window")),
    ({"history": 8, "loops": {"window": 9}}, ("history", "window")),
    ({"history": 16, "loops": {"cycle_period": 6, "cycle_repeats": 3}},
     ("history", "cycle_period", "cycle_repeats")),
    ({"history": 16, "loops": {"cycle_period": 4, "cycle_repeats": 5}},
     ("history", "cycle_period", "cycle_repeats")),
    ({"history": 16, "loops": {"stale": 17}}, ("history", "stale")),
    ({"history": 16, "loops": {"identical": 17}}, ("history", "identical")),
    ({"history": 16, "tools": {"x": {"loops": {"stale": 20}}}}, ("history", "stale")),
    ({"history": 16, "tools": {"x": {"loops": {"identical": 17}}}}, ("history", "identical")),
    ({"history": 16, "tools": {"x": {"exempt": True, "loops": {"stale": 20}}}},
     ("history", "stale")),
    ({"tools": {"fetch_page": {"loops": {"stale": 33}}}}, ("history", "stale")),
])
def test_history_too_small(policy, keys):
    refused(policy, *keys)


@pytest.mark.parametrize("key,val", (("window", 8), ("cycle_period", 2)))
def test_per_tool_window_and_cycle_period_refused(key, val):
    refused({"tools": {"x": {"loops": {key: val}}}}, key)


# ------------------------------------------------------------------ rule policy errors (issue 8)

@pytest.mark.parametrize("rules,idx,key", [
    ([{"action": "block"}], 0, "tool"),
    ([{"action": "allow", "tool": "a"}, {"tool": "b"}], 1, ("action", "count", "schema")),
    ([{"tool": "b", "count": 3, "action": "block"}], 0, ("action", "count")),
    ([{"action": "block", "tool": "a", "arg": "cmd", "prefix": ""}], 0, "prefix"),
    ([{"action": "block", "tool": "a", "prefix": "x"}], 0, ("arg", "prefix")),
    ([{"action": "block", "tool": "a", "exact": "x"}], 0, ("arg", "exact")),
    ([{"action": "block", "tool": "a", "arg": ""}], 0, "arg"),
    ([{"action": "block", "tool": "a", "arg": "a..b"}], 0, "arg"),
    ([{"action": "block", "tool": "a", "arg": ".a"}], 0, "arg"),
    ([{"action": "block", "tool": "a", "arg": "a."}], 0, "arg"),
    ([{"tool": "a", "count": 0}], 0, "count"),
    ([{"tool": "a", "count": -1}], 0, "count"),
    ([{"tool": "a", "count": 2.0}], 0, "count"),
    ([{"tool": "a", "count": True}], 0, "count"),
    ([{"action": "block", "tool": "a", "per_s": 60}], 0, ("per_s", "count")),
    ([{"tool": "a", "count": 3, "per_s": 0}], 0, "per_s"),
    ([{"tool": "a", "count": 3, "per_s": 86401}], 0, "per_s"),
    ([{"tool": "a", "count": 3, "per_s": 1.5}], 0, "per_s"),
    ([{"tool": "a", "count": 1001, "per_s": 60}], 0, ("count", "per_s")),
    ([{"action": "block", "tool": "a", "arg": "n", "exact": 1.5}], 0, "exact"),
    ([{"action": "block", "tool": "a", "arg": "n", "exact": "x", "prefix": "x"}], 0,
     ("exact", "prefix")),
    ([{"action": "block", "tool": "a", "arg": "n", "exact": [1]}], 0, "exact"),
    ([{"action": "deny", "tool": "a"}], 0, "action"),
    ([{"action": "block", "tool": 5}], 0, "tool"),
    ([{"action": "block", "tool": "a", "colour": "red"}], 0, "colour"),
    ([{"action": "allow", "tool": "a"}, {"action": "block", "tool": "b", "arg": "x",
                                         "prefix": 5}], 1, "prefix"),
])
def test_rule_policy_errors(rules, idx, key):
    with pytest.raises(ValueError) as ei:
        Guard({"rules": rules})
    msg = str(ei.value)
    keys = key if isinstance(key, tuple) else (key,)
    assert any(k in msg for k in keys) and str(idx) in msg, \
        "ValueError %r should name rule %d and %r" % (msg, idx, key)


@pytest.mark.parametrize("policy,key", [
    ({"default": "deny"}, "default"), ({"default": True}, "default"), ({"rules": {}}, "rules"),
    ({"rules": ["block shell"]}, "rules"), ({"state_path": 5}, "state_path"),
])
def test_rule_policy_top_level_errors(policy, key):
    refused(policy, key)


@pytest.mark.parametrize("rules", [
    [{"action": "block", "tool": "shell", "arg": "cmd", "prefix": "rm -rf"}],
    [{"action": "allow", "tool": "read_file", "arg": "path", "prefix": "/data/"}],
    [{"action": "block", "tool": "delete_file"}],
    [{"action": "block", "tool": "x", "arg": "a.b.c"}],
    [{"action": "block", "tool": "x", "arg": "n", "exact": 100}],
    [{"action": "block", "tool": "x", "arg": "n", "exact": None}],
    [{"action": "block", "tool": "x", "arg": "n", "exact": False}],
    [{"tool": "send_sms", "count": 5}],
    [{"tool": "set_relay", "count": 10, "per_s": 60}],
    [{"tool": "x", "count": 1000, "per_s": 86400}, {"tool": "y", "count": 1, "per_s": 1}],
    [{"tool": "*", "count": 200}],
    [{"tool": "fs_*", "arg": "path", "prefix": "/sd/", "count": 3}],
])
def test_valid_rules(rules):
    Guard({"default": "block", "rules": rules})
    Guard({"default": "allow", "rules": rules})


# ------------------------------------------------------------------ outcome(): ignored cases

def _g():
    return Guard()


def test_outcome_after_blocked_check_is_ignored():
    g = _g()
    assert g.check(A) == ALLOW
    g.outcome(True, b"X")
    assert g.check(A) == ALLOW
    g.outcome(True, b"X")
    assert g.check(A) == IDENTICAL
    g.outcome(True, b"Y")  # ignored: that call did not run
    g.outcome(True, b"Y", 0, 1, g.last_entry())  # ignored too: a blocked entry
    assert g.check(A) == IDENTICAL


def test_outcome_after_malformed_check_is_ignored():
    g = _g()
    assert g.check(A) == ALLOW
    g.outcome(True, b"X")
    assert g.check(A) == ALLOW  # not reported yet: its outcome is the snapshot X
    assert g.check(BAD) != ALLOW
    assert g.last_entry() == -1
    g.outcome(True, b"Y")  # must not land on the previous allowed entry
    assert g.check(A) == IDENTICAL


def test_outcome_after_rule_blocked_check_is_ignored():
    g = Guard({"rules": [{"action": "block", "tool": "shell"}]})
    assert g.check(A) == ALLOW
    g.outcome(True, b"X")
    assert g.check(A) == ALLOW
    assert g.check(b'{"tool": "shell", "args": {"cmd": "ls"}}') == M.RULE_BLOCK
    assert g.last_entry() == -1
    g.outcome(True, b"Y")
    assert g.check(A) == IDENTICAL


def test_outcome_minus_one_is_ignored():
    g = _g()
    assert g.check(A) == ALLOW
    g.outcome(True, b"Z", 0, 1, -1)  # -1: "made no entry", never the last one
    g.outcome(True, b"X")  # the entry is still unreported: this lands
    assert g.check(A) == ALLOW
    g.outcome(True, b"X")
    assert g.check(A) == IDENTICAL


def test_outcome_with_last_entry_after_malformed_is_ignored():
    g = _g()
    assert g.check(A) == ALLOW
    e0 = g.last_entry()
    assert g.check(BAD) != ALLOW
    g.outcome(False, b"Z", 0, 1, g.last_entry())  # -1: ignored
    g.outcome(True, b"X", 0, 1, e0)  # e0 still unreported: lands
    assert g.check(A) == ALLOW
    g.outcome(True, b"X")
    assert g.check(A) == IDENTICAL


def test_second_report_is_ignored():
    g = _g()
    assert g.check(A) == ALLOW
    e0 = g.last_entry()
    g.outcome(True, b"X")
    g.outcome(True, b"Y")  # second report, no entry
    g.outcome(False, b"Y", 0, 1, e0)  # second report, by entry
    assert g.check(A) == ALLOW
    g.outcome(True, b"X")
    assert g.check(A) == IDENTICAL


def test_second_report_by_entry_then_default_is_ignored():
    g = _g()
    assert g.check(A) == ALLOW
    e0 = g.last_entry()
    g.outcome(True, b"X", 0, 1, e0)
    g.outcome(True, b"Q")
    assert g.check(A) == ALLOW
    g.outcome(True, b"X")
    assert g.check(A) == IDENTICAL


@pytest.mark.parametrize("start,end", [(-1, 1), (3, 1), (0, 99), (99, 99), (1.0, 2), (0, "1"),
                                       (None, 1), (-2, -1)])
def test_outcome_bad_span_is_ignored(start, end):
    g = _g()
    assert g.check(A) == ALLOW
    g.outcome(True, b"XX", start, end)  # ignored, never raises
    g.outcome(True, b"X")  # still unreported: this one lands
    assert g.check(A) == ALLOW
    g.outcome(True, b"X")
    assert g.check(A) == IDENTICAL


def test_outcome_bad_span_by_entry_is_ignored():
    g = _g()
    assert g.check(A) == ALLOW
    e0 = g.last_entry()
    g.outcome(True, b"XX", 5, 1, e0)
    g.outcome(True, b"X", 0, 1, e0)
    assert g.check(A) == ALLOW
    g.outcome(True, b"X")
    assert g.check(A) == IDENTICAL


def test_outcome_for_entry_no_longer_in_history_is_ignored():
    pol = {"history": 4, "loops": {"window": 4, "stale": 0, "cycle_period": 0}}
    g = Guard(pol)
    assert g.check(A) == ALLOW
    e0 = g.last_entry()  # not reported
    for c in (B, C, D):
        assert g.check(c) == ALLOW
        g.outcome(True, b"r")
    assert g.check(E) == ALLOW  # e0 has left the history; E may reuse its slot
    g.outcome(True, b"Z", 0, 1, e0)  # ignored: must not land on E's entry
    assert g.check(E) == ALLOW
    g.outcome(True, b"Z")
    # E's first entry is unreported ("none"), its second is Z: not identical
    assert g.check(E) == ALLOW


def test_outcome_for_entry_before_reset_is_ignored():
    g = _g()
    assert g.check(A) == ALLOW
    e0 = g.last_entry()
    g.reset()
    assert g.check(E) == ALLOW
    e1 = g.last_entry()
    assert e1 != e0, "entry numbers are never reused"
    g.outcome(True, b"Z", 0, 1, e0)  # ignored
    assert g.check(E) == ALLOW
    g.outcome(True, b"Z")
    assert g.check(E) == ALLOW  # first E is still "none"


def test_outcome_unknown_entry_numbers_are_ignored():
    g = _g()
    assert g.check(A) == ALLOW
    for e in (10 ** 6, 2 ** 31, -5, 1.0, "0", 7):
        g.outcome(True, b"Z", 0, 1, e)
    g.outcome(True, b"X")
    assert g.check(A) == ALLOW
    g.outcome(True, b"X")
    assert g.check(A) == IDENTICAL


def test_outcome_before_any_check_is_ignored():
    g = _g()
    g.outcome(True, b"X")
    g.outcome(False)
    g.outcome(True, b"X", 0, 1, 0)
    assert g.check(A) == ALLOW
    assert g.check(A) == ALLOW
    assert g.check(A) == IDENTICAL


# ------------------------------------------------------------------ outcome(): what is hashed

def test_outcome_span_hashes_only_the_span():
    g = _g()
    assert g.check(A) == ALLOW
    g.outcome(True, b"__X__", 2, 3)
    assert g.check(A) == ALLOW
    g.outcome(True, bytearray(b"X"))
    assert g.check(A) == IDENTICAL


def test_no_result_bytes_hash_as_empty():
    g = _g()
    assert g.check(A) == ALLOW
    g.outcome(True)
    assert g.check(A) == ALLOW
    g.outcome(True, b"")
    assert g.check(A) == IDENTICAL
    g = _g()
    assert g.check(A) == ALLOW
    g.outcome(True, None)
    assert g.check(A) == ALLOW
    g.outcome(True, b"abc", 1, 1)
    assert g.check(A) == IDENTICAL


def test_ok_is_part_of_the_outcome():
    g = _g()
    assert g.check(A) == ALLOW
    g.outcome(True, b"X")
    assert g.check(A) == ALLOW
    g.outcome(False, b"X")
    assert g.check(A) == ALLOW


def test_result_bytes_are_all_hashed():
    g = _g()
    big1 = b"x" * 5000 + b"1"
    big2 = b"x" * 5000 + b"2"
    assert g.check(A) == ALLOW
    g.outcome(True, big1)
    assert g.check(A) == ALLOW
    g.outcome(True, big2)
    assert g.check(A) == ALLOW


def test_none_outcome_is_distinct_from_every_reported_outcome():
    for res in (b"", b"none", b"\x00" * 4, None):
        g = _g()
        assert g.check(A) == ALLOW  # never reported: "none"
        assert g.check(A) == ALLOW  # snapshot of the first: "none"
        g.outcome(True, res)  # now a reported outcome
        assert g.check(A) == ALLOW, res  # (A none), (A reported): not identical


def test_parallel_reports_by_entry():
    g = _g()
    assert g.check(A) == ALLOW
    e0 = g.last_entry()
    assert g.check(A) == ALLOW  # in parallel with the first: both unreported
    e1 = g.last_entry()
    assert e0 != e1 and e0 >= 0 and e1 >= 0
    g.outcome(True, b"X", 0, 1, e0)
    g.outcome(True, b"X", 0, 1, e1)
    assert g.check(A) == IDENTICAL


def test_parallel_reports_land_on_their_own_entries():
    g = _g()
    assert g.check(A) == ALLOW
    ea = g.last_entry()
    assert g.check(B) == ALLOW
    eb = g.last_entry()
    g.outcome(True, b"page b", 0, 6, eb)
    g.outcome(True, b"page a", 0, 6, ea)
    assert g.check(A) == ALLOW
    g.outcome(True, b"page a")
    assert g.check(A) == ALLOW  # (A a), (B b), (A a): B between
    g.outcome(True, b"page a")
    assert g.check(A) == IDENTICAL


def test_snapshot_later_reports_do_not_change_it():
    g = _g()
    assert g.check(A) == ALLOW
    e0 = g.last_entry()  # unreported
    assert g.check(A) == ALLOW  # snapshot of e0 now: "none"
    g.outcome(True, b"X", 0, 1, e0)  # e0 becomes X, the second entry stays "none"
    assert g.check(A) == ALLOW  # me = snapshot of the latest A = "none"; e0 is X: no
    g3 = _g()
    assert g3.check(A) == ALLOW
    e0 = g3.last_entry()
    g3.outcome(True, b"X", 0, 1, e0)
    assert g3.check(A) == ALLOW  # snapshot X
    assert g3.check(A) == IDENTICAL  # (A X) (A X-snapshot)


# ------------------------------------------------------------------ last_entry()

def test_last_entry():
    g = Guard({"rules": [{"action": "block", "tool": "shell"}, {"tool": "sms", "count": 1}]})
    assert g.last_entry() == -1
    assert g.check(A) == ALLOW
    e0 = g.last_entry()
    assert type(e0) is int and e0 >= 0
    assert g.check(BAD) != ALLOW
    assert g.last_entry() == -1
    assert g.check(b'{"tool": "shell"}') == M.RULE_BLOCK
    assert g.last_entry() == -1
    assert g.check(b'{"tool": "sms", "args": {"t": "1"}}') == ALLOW
    e1 = g.last_entry()
    assert e1 >= 0 and e1 != e0
    assert g.check(b'{"tool": "sms", "args": {"t": "2"}}') == M.BUDGET_EXHAUSTED
    assert g.last_entry() == -1
    assert g.check(A) == ALLOW  # (A) (sms) (A): not identical
    assert g.check(A) == ALLOW
    assert g.check(A) == IDENTICAL
    e2 = g.last_entry()
    assert e2 >= 0, "a loop-blocked call makes an entry"
    assert len({e0, e1, e2}) == 3


def test_entry_numbers_never_reused():
    g = Guard({"history": 4, "loops": {"window": 4, "stale": 0, "cycle_period": 0}})
    seen = set()
    for i in range(50):
        g.check(b'{"tool": "t", "args": {"i": %d}}' % i)
        e = g.last_entry()
        assert e not in seen
        seen.add(e)
        if i % 10 == 9:
            g.reset()


# ------------------------------------------------------------------ reset()

def test_reset_clears_history():
    g = _g()
    assert g.check(A) == ALLOW
    assert g.check(A) == ALLOW
    g.reset()
    assert g.check(A) == ALLOW
    assert g.check(A) == ALLOW
    assert g.check(A) == IDENTICAL


def test_reset_clears_pending_outcome():
    g = _g()
    assert g.check(A) == ALLOW
    g.reset()
    g.outcome(True, b"X")  # nothing pending: ignored, no raise
    assert g.check(A) == ALLOW
    assert g.check(A) == ALLOW
    assert g.check(A) == IDENTICAL


def test_reset_keeps_policy():
    g = Guard({"tools": {"poll": {"exempt": True}}, "loops": {"identical": 2}})
    g.reset()
    p = b'{"tool": "poll", "args": {}}'
    for _ in range(20):
        assert g.check(p) == ALLOW
    assert g.check(A) == ALLOW
    assert g.check(A) == IDENTICAL


def test_reset_keeps_budgets_clear_budgets_refills():
    g = Guard({"rules": [{"tool": "sms", "count": 2}]})
    s = [b'{"tool": "sms", "args": {"t": "%d"}}' % i for i in range(5)]
    assert g.check(s[0]) == ALLOW
    assert g.check(s[1]) == ALLOW
    assert g.check(s[2]) == M.BUDGET_EXHAUSTED
    assert g.rule_index() == 0
    g.reset()
    assert g.check(s[2]) == M.BUDGET_EXHAUSTED
    g.clear_budgets()
    assert g.check(s[3]) == ALLOW
    assert g.rule_index() == -1


# ------------------------------------------------------------------ codes and reason()

CODES = ("IDENTICAL", "REPEAT", "CYCLE", "ERROR_LOOP", "STALE", "RETRIES", "MALFORMED",
         "TOO_LARGE", "TOO_DEEP", "DUPLICATE_KEY", "RULE_BLOCK", "BUDGET_EXHAUSTED",
         "SCHEMA_INVALID")


def test_codes_are_distinct_positive_ints_with_messages():
    assert M.ALLOW == 0
    vals = [getattr(M, n) for n in CODES]
    assert all(type(v) is int and v > 0 for v in vals)
    assert len(set(vals)) == len(vals)
    g = Guard()
    msgs = [g.reason(v) for v in vals]
    assert all(isinstance(m, str) and m for m in msgs)
    assert len(set(msgs)) == len(msgs)
    assert isinstance(g.reason(ALLOW), str)
    assert g.reason(M.IDENTICAL) is g.reason(M.IDENTICAL)  # constant


def test_reason_of_every_returned_code():
    g = Guard()
    for data in (A, A, A, BAD, b"", b"\xff", b'{"tool": "t", "args": {"a": 1, "a": 2}}'):
        v = g.check(data)
        assert isinstance(g.reason(v), str) and g.reason(v)


# ------------------------------------------------------------------ per-tool settings

def test_per_tool_settings_use_the_decoded_tool_name():
    g = Guard({"tools": {"read_output": {"exempt": True}}})
    for i in range(30):
        call = b'{"tool": "read\\u005foutput", "args": {"job": 7}}' if i % 2 else \
            b'{"tool": "read_output", "args": {"job": 7}}'
        assert g.check(call) == ALLOW, i
        g.outcome(True, b"same chunk")


def test_retries_count_the_decoded_tool_whatever_the_args():
    g = Guard({"tools": {"send_email": {"loops": {"retries": 3}}}})
    assert g.check(b'{"tool": "send_email", "args": {"to": "a"}}') == ALLOW
    assert g.check(b'{"tool": "send\\u005femail", "args": {"to": "b"}}') == ALLOW
    assert g.check(b'{"tool": "send_email", "args": {"to": "c"}}') == M.RETRIES


def test_per_tool_loops_merge_key_by_key():
    # only identical is overridden for "fetch"; repeat/stale stay at the policy's values
    g = Guard({"tools": {"fetch": {"loops": {"identical": 0}}}})
    for i in range(2):
        assert g.check(A) == ALLOW
        g.outcome(True, b"X")
    assert g.check(A) == ALLOW  # identical off for fetch: third in a row passes
    g.outcome(True, b"X")
    # repeat 4 (the policy's) still applies to fetch: 3 executed matches since the new entry
    assert g.check(A) == M.REPEAT


def test_settings_of_the_checked_tool_apply():
    # o p o p o p with unchanged outcomes, "poll" (p) exempt. The 7th call closes the cycle
    # (p o) x 3: checking p, p's settings apply (exempt: allowed); checking o, o's settings
    # apply (not exempt: the cycle, exempt entries included, blocks it).
    p = b'{"tool": "poll", "args": {}}'
    o = b'{"tool": "other", "args": {}}'
    verdicts = []
    for last in (p, o):
        g = Guard({"tools": {"poll": {"exempt": True}}})
        for i in range(3):
            assert g.check(o) == ALLOW
            g.outcome(True, b"same")
            assert g.check(p) == ALLOW
            g.outcome(True, b"same")
        verdicts.append(g.check(last))
    assert verdicts == [ALLOW, M.CYCLE]


def test_exempt_tool_calls_still_make_entries():
    g = Guard({"tools": {"poll": {"exempt": True}}})
    p = b'{"tool": "poll", "args": {}}'
    assert g.check(A) == ALLOW
    g.outcome(True, b"X")
    assert g.check(A) == ALLOW
    g.outcome(True, b"X")
    assert g.check(p) == ALLOW
    assert g.last_entry() >= 0
    # the poll entry sits between: A is no longer identical to the two before it
    assert g.check(A) == ALLOW


def test_retries_window_counts_this_call():
    # retries 3, window 16: counting this call, 3 executed entries of the tool among the last
    # 16 entries. Two emails, then 14 other calls: the first email has left the window.
    g = Guard({"tools": {"mail": {"loops": {"retries": 3}}}})
    mail = [b'{"tool": "mail", "args": {"n": %d}}' % i for i in range(5)]
    assert g.check(mail[0]) == ALLOW
    assert g.check(mail[1]) == ALLOW
    for i in range(13):
        assert g.check(b'{"tool": "read", "args": {"n": %d}}' % i) == ALLOW
    assert g.check(mail[2]) == M.RETRIES  # entries 0..15: mail 0, 1 and this one
    assert g.check(mail[3]) == ALLOW  # entries 1..16: mail 1 and this one (the 3rd was blocked)


def test_guard_none_uses_exactly_the_compiled_defaults():
    # Guard(None) does not load policy.py (RAM on a device): its spelled-out defaults must be
    # exactly what compile_policy(None) gives, attribute by attribute
    from microloop_mpy.guard import _Defaults
    from microloop_mpy.policy import compile_policy

    compiled = vars(compile_policy(None))
    assert compiled, "compile_policy(None) has no attributes"
    for name, value in compiled.items():
        mine = getattr(_Defaults, name)
        if isinstance(value, list):
            assert list(mine) == value, name
        else:
            assert mine == value, name
    spelled = {k for k in vars(_Defaults) if not k.startswith("_")}
    assert spelled == set(compiled)


def test_guard_none_and_guard_empty_policy_judge_alike():
    a, b = Guard(None), Guard({})
    calls = [A, A, A, B, A, C, A, D, E, A, BAD, A]
    got_a = [a.check(c) for c in calls]
    got_b = [b.check(c) for c in calls]
    assert got_a == got_b
    assert IDENTICAL in got_a or M.REPEAT in got_a
