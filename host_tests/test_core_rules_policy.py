# Rule policy errors (issue 8 "Policy errors"): a ValueError naming the rule index and key;
# and the `microloop check-policy` command.
import json
import subprocess
import sys
from pathlib import Path

import pytest

from microloop_mpy import Guard, RULE_BLOCK, ALLOW

BAD = [
    ({"tool": "x", "action": "block", "bogus": 1}, "rules[0].bogus"),
    ({"action": "block"}, "rules[0].tool"),
    ({"tool": "x"}, "rules[0]"),
    ({"tool": "x", "count": 3, "action": "block"}, "rules[0].action"),
    ({"tool": "x", "action": "block", "arg": "p", "prefix": ""}, "rules[0].prefix"),
    ({"tool": "x", "action": "block", "exact": "a"}, "rules[0].exact"),
    ({"tool": "x", "action": "block", "prefix": "a"}, "rules[0].prefix"),
    ({"tool": "x", "action": "block", "arg": ""}, "rules[0].arg"),
    ({"tool": "x", "action": "block", "arg": "a..b"}, "rules[0].arg"),
    ({"tool": "x", "count": 0}, "rules[0].count"),
    ({"tool": "x", "action": "block", "per_s": 5}, "rules[0].per_s"),
    ({"tool": "x", "count": 3, "per_s": 0}, "rules[0].per_s"),
    ({"tool": "x", "count": 3, "per_s": 86401}, "rules[0].per_s"),
    ({"tool": "x", "count": 1001, "per_s": 5}, "rules[0].count"),
    ({"tool": "x", "action": "block", "arg": "a", "exact": 1.5}, "rules[0].exact"),
    ({"tool": "x", "action": "block", "arg": "a", "exact": "a", "prefix": "a"}, "rules[0].exact"),
    ({"tool": "x", "action": "maybe"}, "rules[0].action"),
    ({"tool": "x", "schema": {"type": "object"}, "action": "allow"}, "rules[0].action"),
]


@pytest.mark.parametrize("rule,where", BAD, ids=[w + str(i) for i, (_, w) in enumerate(BAD)])
def test_bad_rule_is_a_value_error_naming_index_and_key(rule, where):
    ok = {"tool": "y", "action": "allow"}
    with pytest.raises(ValueError) as e:
        Guard({"rules": [rule]})
    assert where in str(e.value)
    with pytest.raises(ValueError) as e:  # the index is the rule's own
        Guard({"rules": [ok, rule]})
    assert where.replace("rules[0]", "rules[1]") in str(e.value)


def test_rule_index_and_default_block():
    g = Guard({"default": "block", "rules": [{"action": "allow", "tool": "read"}]})
    c = b'{"tool": "write", "args": {}}'
    assert g.check(c) == RULE_BLOCK and g.rule_index() == -1
    assert g.check(b'{"tool": "read"}') == ALLOW and g.rule_index() == -1


def test_check_policy_command(tmp_path):
    exe = Path(sys.executable).parent / "microloop"
    good = tmp_path / "p.json"
    good.write_text(json.dumps({"rules": [{"action": "block", "tool": "shell", "arg": "cmd",
                                           "prefix": "rm -rf"}, {"tool": "sms", "count": 5}]}))
    out = subprocess.run([str(exe), "check-policy", str(good)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert '[0] block  tool shell arg cmd prefix "rm -rf"' in out.stdout
    assert "[1] count  tool sms budget 5 lifetime" in out.stdout
    assert "bytes (unix port)" in out.stdout
    bad = tmp_path / "b.json"
    bad.write_text(json.dumps({"rules": [{"tool": "x", "count": 0}]}))
    out = subprocess.run([str(exe), "check-policy", str(bad)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and "rules[0].count" in out.stderr


CLOCK_CODE = """
from microloop_mpy import Guard, ALLOW, BUDGET_EXHAUSTED
now = [0]
base = %d
g = Guard({"rules": [{"tool": "relay", "count": 2, "per_s": 60}]}, clock=lambda: base + now[0])
c = b'{"tool": "relay", "args": {"on": true}}'
out = []
for t in (0, 1000, 2000, 59999, 60000, 61000, 119999, 120000):
    now[0] = t
    out.append(g.check(c, 0, len(c)))
    g.reset()
print(" ".join(str(v) for v in out))
"""


@pytest.mark.parametrize("base", [0, (1 << 29) - 1500, (1 << 30) + 7, (1 << 40) + 3])
@pytest.mark.parametrize("runtime", ["cpython", "unix", "wasm"])
def test_time_budget_is_exact_for_any_clock_value(runtime, base):
    # a board's ticks_ms may exceed 2**30 (64-bit unix port): the rules fold every clock into
    # 2**29 and compare with ticks_diff semantics, across the fold too
    from runtimes import run_mp

    out = run_mp(runtime, CLOCK_CODE % base, timeout=60).split()
    assert out == ["0", "0", "8", "8", "0", "0", "8", "0"], out


def test_a_clock_that_does_not_return_an_int_is_refused():
    with pytest.raises(ValueError, match="clock"):
        Guard({"rules": [{"tool": "x", "count": 1}]}, clock=lambda: 1.5)
