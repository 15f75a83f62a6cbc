"""Hostile input on every runtime: the inputs of test_spec_bad_input.py (and a few thousand
fuzz mutations) replayed by one script on CPython, the MicroPython unix port and the wasm port.
Each runtime must give the same verdict, entry and hash for every input (issue 7: "CPython and
MicroPython must produce identical values"; CPython may take a faster path only if verdicts
and hashes agree), and on every runtime each bad input is refused without touching the history
(A, A, <bad>, A blocks the last A).
"""
import importlib.util
import os
import random

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def _load(name):
    spec = importlib.util.spec_from_file_location("spec_rt_" + name, os.path.join(HERE, name))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


BADMOD = _load("test_spec_bad_input.py")
MODEL = _load("test_spec_model.py")

POLICIES = [None, {"max_depth": 4}, {"max_call_bytes": 64}]

SCRIPT = r"""
import sys
from binascii import unhexlify
from microloop_mpy import Guard, ALLOW
POLS = [None, {"max_depth": 4}, {"max_call_bytes": 64}]
PROBE = b'{"tool": "probe", "args": {"n": 1}}'
f = open(sys.argv[1])
n = 0
for line in f:
    parts = line.split()
    if not parts:
        continue
    pi = int(parts[0])
    data = unhexlify(parts[3]) if len(parts) > 3 else b""
    g = Guard(POLS[pi])
    g.check(PROBE)
    g.outcome(True, b"same")
    g.check(PROBE)
    g.outcome(True, b"same")
    if parts[1] == "n":
        v = g.check(data)
    else:
        v = g.check(data, int(parts[1]), int(parts[2]))
    le = g.last_entry()
    h = g.last_hash_hex() if v == 0 else "-"
    g.outcome(True, b"changed")
    v2 = g.check(PROBE)
    print("%d %d %d %s %d" % (n, v, le, h, v2))
    n += 1
print("END %d" % n)
"""


def _corpus():
    """[(policy index, start, end, bytes, kind)] with kind 'bad', 'good' or 'any'."""
    B = BADMOD
    cases = []

    def bad(d, pi=0, s=None, e=None):
        cases.append((pi, s, e, d, "bad"))

    def good(d, pi=0, s=None, e=None):
        cases.append((pi, s, e, d, "good"))

    for k in range(len(B.VALID)):
        bad(B.VALID[:k])
    good(B.VALID)
    good(B.VALID + b"\n")
    for seq in B.BAD_UTF8:
        bad(B.wrap_args(b'{"s": "a' + seq + b'b"}'))
        bad(B.wrap_args(b'{"k' + seq + b'": 1}'))
        bad(b'{"tool": "t' + seq + b'"}')
    for seq in B.GOOD_UTF8:
        good(B.wrap_args(b'{"s": "a' + seq + b'b"}'))
    for c in range(0x20):
        bad(B.wrap_args(b'{"s": "a' + bytes([c]) + b'b"}'))
    for esc in (b"\\ud800", b"\\udc00", b"\\ud800x", b"\\ud83d\\ud83d", b"\\ude00\\ud83d",
                b"\\ud83d\\u00e9"):
        bad(B.wrap_args(b'{"s": "' + esc + b'"}'))
        bad(B.wrap_args(b'{"' + esc + b'": 1}'))
    for num in B.BAD_NUMBERS:
        bad(B.wrap_args(b'{"n": ' + num + b'}'))
    for num in B.GOOD_NUMBERS:
        good(B.wrap_args(b'{"n": ' + num + b'}'))
    for d in (b"", b" ", b"{}", b"[]", b"\xef\xbb\xbf" + B.PROBE, B.PROBE + b"x",
              b'{"tool": "shell", "arguments": {}}', b'{"args": {}}', b'{"tool": ""}',
              b'{"tool": 1}', B.wrap_args(b"[]"), B.wrap_args(b"null"),
              b'{"tool": "t",}', B.wrap_args(b'{"a": [1,]}'), B.wrap_args(b'{"a": 1 "b": 2}')):
        bad(d)
    for pair in [(b'{"a": 1, "a": 2}',), (b'{"a": 1, "\\u0061": 2}',),
                 (b'{"o": {"x": 1, "\\u0078": 2}}',), (b'{"l": [{"k": 1, "k": 1}]}',)]:
        bad(B.wrap_args(pair[0]))
    bad(b'{"tool": "t", "id": {"n": 1, "\\u006e": 2}}')
    bad(b'{"tool": "a", "\\u0074ool": "a"}')
    # depth (policy 1: max_depth 4) and size (policy 2: max_call_bytes 64)
    good(B._nested_obj(4), 1)
    good(B._nested_arr(4), 1)
    bad(B._nested_obj(5), 1)
    bad(B._nested_arr(5), 1)
    good(B._nested_obj(16))
    bad(B._nested_obj(17))
    bad(b'{"tool": "t", "args": ' + b"[" * 5000)
    good(B._padded(64), 2)
    good(B._padded(64, b"\n"), 2)
    bad(B._padded(65), 2)
    bad(B._padded(65, b"\n"), 2)
    x = b'{"tool": "span", "args": {"n": 2}}'
    buf = b"xx" + x + b"yy"
    good(buf, 0, 2, 2 + len(x))
    for s, e in ((0, len(buf) + 1), (5, 4), (3, 3), (0, 2 + len(x))):
        bad(buf, 0, s, e)
    # identity pairs: hashes must agree across runtimes
    for a, b in B.SAME:
        good(a)
        good(b)
    for a, b in B.DIFFERENT:
        good(B.wrap_args(a))
        good(B.wrap_args(b))
    rnd = random.Random(777)
    for _ in range(2500):
        cases.append((0, None, None, B._mutate(rnd, rnd.choice(B.SEEDS)), "any"))
    return cases


def _write(cases, path):
    with open(path, "w") as f:
        for pi, s, e, d, _ in cases:
            f.write("%d %s %s %s\n" % (pi, "n" if s is None else s, "n" if e is None else e,
                                       d.hex()))


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    runtimes = pytest.importorskip("runtimes")
    cases = _corpus()
    d = tmp_path_factory.mktemp("spec-input-corpus")
    corpus = d / "corpus.jsonl"  # the wasm runner copies .py/.json/.jsonl files only
    _write(cases, corpus)
    out = {}
    for rt in ("cpython", "unix", "wasm"):
        try:
            text = runtimes.run_mp(rt, SCRIPT, [str(corpus)], timeout=600, mounts=[str(d)])
        except runtimes.RuntimeMissing as e:
            out[rt] = e
            continue
        lines = text.strip().split("\n")
        assert lines[-1] == "END %d" % len(cases), (rt, lines[-3:])
        out[rt] = lines[:-1]
    return cases, out


def test_cpython_expectations(results):
    import microloop_mpy as M
    cases, out = results
    lines = out["cpython"]
    problems = []
    for (pi, s, e, d, kind), line in zip(cases, lines):
        n, v, le, h, v2 = line.split()
        v, le, v2 = int(v), int(le), int(v2)
        if kind == "any":
            try:
                MODEL.parse_call(d, **({"max_depth": 4} if pi == 1 else {}))
                kind = "good"
            except MODEL.Malformed:
                kind = "bad"
            if kind == "good":
                continue
        if kind == "bad":
            if v == 0 or le != -1 or v2 != M.IDENTICAL:
                problems.append(("bad input not refused cleanly", d[:80], v, le, v2))
        elif v != 0:
            problems.append(("good input refused", d[:80], v))
    assert not problems, problems[:10]


@pytest.mark.parametrize("rt", ["unix", "wasm"])
def test_same_verdicts_entries_hashes_as_cpython(results, rt):
    cases, out = results
    if isinstance(out[rt], Exception):
        pytest.fail("runtime %s missing: %s" % (rt, out[rt]))
    diffs = [(cases[i][3][:80], a, b) for i, (a, b) in enumerate(zip(out["cpython"], out[rt]))
             if a != b]
    assert not diffs, "%d differences, first: %r" % (len(diffs), diffs[:5])
