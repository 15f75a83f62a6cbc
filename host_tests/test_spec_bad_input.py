"""Hostile input and call identity, from issue 7 "Bad input: fail closed, never crash" and
"The call's identity". Written from the spec, run on CPython.

Every bad input must: return an int BLOCK code (> 0), never raise, make no history entry
(last_entry() == -1), and leave the history as it was. The proof used throughout: with
`identical: 3`, A, A, <bad>, A must block the last A. The probe also reports an outcome right
after the bad check: it must be ignored (outcome() after a malformed check), else the snapshot
of the last A would change and the block would not happen.
"""
import importlib.util
import json
import os
import random

import pytest

from microloop_mpy import (ALLOW, DUPLICATE_KEY, IDENTICAL, MALFORMED, TOO_DEEP, TOO_LARGE,
                           Guard)
import microloop_mpy as M

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("spec_model_for_bad",
                                               os.path.join(HERE, "test_spec_model.py"))
MODEL = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(MODEL)

LOOP_CODES = {M.IDENTICAL, M.REPEAT, M.CYCLE, M.ERROR_LOOP, M.STALE, M.RETRIES}
PROBE = b'{"tool": "probe", "args": {"n": 1}}'

VALID = (b'{"tool": "browser_open", "args": {"url": "https:\\/\\/ex.com\\/a?q=caf\\u00e9",'
         b' "tabs": [1, 2.5, -3e2, true, false, null, {"k": "v"}], "opts": {"wait": "load",'
         b' "retry": {"n": 0}}, "emoji": "\\ud83d\\ude00 \xf0\x9f\x98\x80"}, "id": {"seq": 7}}')


def _code_ok(v):
    assert type(v) is int, "check() returns an int, got %r" % (v,)
    assert v > 0, "bad input must be blocked (got ALLOW)"
    assert v not in LOOP_CODES, "bad input is refused as bad input, not as a loop (%d)" % v


def probe_unchanged(bad, start=None, end=None, policy=None):
    """A, A, <bad>, A with identical 3: the last A is blocked iff <bad> left no trace."""
    g = Guard(policy)
    assert g.check(PROBE) == ALLOW
    g.outcome(True, b"same")
    assert g.check(PROBE) == ALLOW
    g.outcome(True, b"same")
    e_before = g.last_entry()
    if start is None and end is None:
        v = g.check(bad)
    elif end is None:
        v = g.check(bad, start)
    else:
        v = g.check(bad, start, end)
    _code_ok(v)
    assert g.last_entry() == -1, "a refused call makes no history entry"
    g.outcome(True, b"changed")  # must be ignored: the most recent check was refused
    g.outcome(False, b"changed", 0, 7, e_before + 1 if e_before >= 0 else 99)
    v2 = g.check(PROBE)
    assert v2 == IDENTICAL, \
        "history changed by bad input %r: third identical probe got %d" % (bad[:80], v2)
    return v


def allowed_fresh(call, policy=None, start=None, end=None):
    g = Guard(policy)
    v = g.check(call) if start is None else g.check(call, start, end)
    assert v == ALLOW, "well-formed call refused (%d: %s): %r" % (v, g.reason(v), call[:120])
    assert g.last_entry() >= 0
    return g


def wrap_args(args_text):
    return b'{"tool": "t", "args": ' + args_text + b'}'


# ------------------------------------------------------------------ sanity of the fixtures

def test_valid_fixture_is_allowed():
    allowed_fresh(VALID)
    allowed_fresh(PROBE)
    allowed_fresh(VALID + b"\n")
    allowed_fresh(b" \t\r\n" + VALID + b" \r\n\t")
    allowed_fresh(bytearray(VALID))


# ------------------------------------------------------------------ truncation

@pytest.mark.parametrize("cut_by", ["slice", "span"])
def test_every_truncated_prefix_is_refused(cut_by):
    for k in range(len(VALID)):
        if cut_by == "slice":
            probe_unchanged(VALID[:k])
        else:
            probe_unchanged(VALID, 0, k)


def test_every_truncated_prefix_of_small_calls():
    for call in (b'{"tool":"x"}', b'{"tool":"x","args":{}}', b'{"args":{"a":[1,{"b":null}]},"tool":"y"}',
                 b'{"tool":"z","args":{"s":"\\u00e9\\"\\\\"},"id":[1]}'):
        allowed_fresh(call)
        for k in range(len(call)):
            probe_unchanged(call[:k])


def test_trailing_garbage_after_the_object():
    for tail in (b"x", b"}", b"{}", b",", b'{"tool":"x"}', b"\x00", b"null", b"]"):
        probe_unchanged(PROBE + tail)
        probe_unchanged(PROBE + b"\n" + tail)


def test_empty_and_whitespace_only():
    for bad in (b"", b" ", b"\n", b"\r\n\t ", b"{}", b"[]", b"null", b'"tool"', b"1"):
        probe_unchanged(bad)


# ------------------------------------------------------------------ top-level shape

@pytest.mark.parametrize("bad", [
    b'{"args": {}}', b'{}', b'{"id": 1}',
    b'{"tool": "", "args": {}}', b'{"tool": 1, "args": {}}', b'{"tool": null}',
    b'{"tool": ["shell"]}', b'{"tool": {"name": "shell"}}', b'{"tool": true}', b'{"tool": 1.5}',
])
def test_missing_empty_or_non_string_tool(bad):
    probe_unchanged(bad)


@pytest.mark.parametrize("args", [b"[]", b'"ls"', b"null", b"1", b"true", b"false", b'["a"]',
                                  b"0.5", b'""'])
def test_args_not_an_object(args):
    probe_unchanged(wrap_args(args))
    probe_unchanged(b'{"args": ' + args + b', "tool": "t"}')


@pytest.mark.parametrize("bad", [
    b'{"tool": "shell", "arguments": {"cmd": "rm -rf /"}}',
    b'{"tool": "shell", "args": {}, "arguments": {"cmd": "rm -rf /"}}',
    b'{"tool": "shell", "args": {}, "extra": 1}',
    b'{"tool": "shell", "Args": {"cmd": "ls"}}',
    b'{"TOOL": "shell", "args": {}}',
    b'{"tool": "shell", "args": {}, "ID": 1}',
    b'{"tool": "shell", "args": {}, "": 1}',
    b'{"tool": "shell", "args": {}, "tool ": "x"}',
    b'{"tool": "shell", "params": {}}',
    b'{"name": "shell", "args": {}}',
])
def test_unknown_top_level_key(bad):
    probe_unchanged(bad)


@pytest.mark.parametrize("top", [b"[]", b'["tool", "x"]', b'[{"tool": "x"}]', b'"x"', b"1",
                                 b"true", b"null"])
def test_top_level_not_an_object(top):
    probe_unchanged(top)


def test_escaped_top_level_keys_are_the_keys():
    # keys are compared after decoding (issue 7): "\u0074ool" is "tool"
    a = Guard()
    assert a.check(b'{"\\u0074ool": "shell", "\\u0061rgs": {"cmd": "ls"}}') == ALLOW
    h1 = a.last_hash_hex()
    assert a.check(b'{"tool": "shell", "args": {"cmd": "ls"}}') == ALLOW
    assert a.last_hash_hex() == h1
    probe_unchanged(b'{"\\u0074ool": "shell", "\\u0061rguments": {}}')


# ------------------------------------------------------------------ BOM

def test_leading_bom_refused():
    probe_unchanged(b"\xef\xbb\xbf" + PROBE)
    probe_unchanged(b" \xef\xbb\xbf" + PROBE)
    probe_unchanged(PROBE + b"\xef\xbb\xbf")


def test_bom_character_inside_a_string_is_fine():
    allowed_fresh(wrap_args(b'{"s": "\xef\xbb\xbfx", "t": "\\ufeff"}'))


# ------------------------------------------------------------------ depth

def _nested_obj(depth_total):
    """A call whose deepest container is at depth_total (outer object 1, args 2)."""
    inner = b"{}"
    for _ in range(depth_total - 2):
        inner = b'{"k": ' + inner + b'}'
    return wrap_args(inner)


def _nested_arr(depth_total):
    inner = b"[]"
    for _ in range(depth_total - 3):
        inner = b"[" + inner + b"]"
    return wrap_args(b'{"a": ' + inner + b'}')


def test_depth_limits_default():
    allowed_fresh(_nested_obj(16))
    allowed_fresh(_nested_arr(16))
    assert probe_unchanged(_nested_obj(17)) == TOO_DEEP
    assert probe_unchanged(_nested_arr(17)) == TOO_DEEP


@pytest.mark.parametrize("md", [2, 3, 4, 7])
def test_depth_limits_policy(md):
    pol = {"max_depth": md}
    if md >= 2:
        allowed_fresh(_nested_obj(md), pol)
        allowed_fresh(b'{"tool": "t", "args": {"a": 1, "b": "x"}}', pol)
    if md >= 3:
        allowed_fresh(_nested_arr(md), pol)
    assert probe_unchanged(_nested_obj(md + 1), policy=pol) == TOO_DEEP
    if md + 1 >= 3:
        assert probe_unchanged(_nested_arr(md + 1), policy=pol) == TOO_DEEP


def test_depth_counts_arrays_and_id():
    pol = {"max_depth": 4}
    # args 2, [ 3, [ 4: fine
    allowed_fresh(wrap_args(b'{"a": [[1]]}'), pol)
    assert probe_unchanged(wrap_args(b'{"a": [[[1]]]}'), policy=pol) == TOO_DEEP
    assert probe_unchanged(wrap_args(b'{"a": [{"b": {}}]}'), policy=pol) == TOO_DEEP
    # id is validated like args: id container at depth 2
    allowed_fresh(b'{"tool": "t", "id": [[{}]]}', pol)
    assert probe_unchanged(b'{"tool": "t", "id": [[[{}]]]}', policy=pol) == TOO_DEEP
    # max_depth 2: args may hold scalars only
    allowed_fresh(wrap_args(b'{"a": 1}'), {"max_depth": 2})
    assert probe_unchanged(wrap_args(b'{"a": []}'), policy={"max_depth": 2}) == TOO_DEEP
    allowed_fresh(b'{"tool": "t", "id": {}}', {"max_depth": 2})
    assert probe_unchanged(b'{"tool": "t", "id": [[]]}', policy={"max_depth": 2}) == TOO_DEEP


def test_absurd_nesting_never_raises():
    for n in (100, 1000, 100000):
        for bad in (b'{"tool": "t", "args": ' + b"[" * n, b'{"tool": "t", "args": {"a":' * n,
                    wrap_args(b'{"a": ' + b"[" * n + b"]" * n + b'}')):
            probe_unchanged(bad)


# ------------------------------------------------------------------ size

def _padded(total, trailing=b""):
    base = b'{"tool": "t", "args": {"p": ""}}'
    pad = total - len(base) - len(trailing)
    assert pad >= 0
    return base[:-3] + b"x" * pad + b'"}}' + trailing


def test_size_limit_exact_is_fine():
    pol = {"max_call_bytes": 64}
    c = _padded(64)
    assert len(c) == 64
    allowed_fresh(c, pol)
    assert probe_unchanged(_padded(65), policy=pol) == TOO_LARGE


def test_size_limit_whitespace_counts():
    pol = {"max_call_bytes": 64}
    c = _padded(64, b"\n")
    assert len(c) == 64
    allowed_fresh(c, pol)
    assert probe_unchanged(_padded(65, b"\n"), policy=pol) == TOO_LARGE
    assert probe_unchanged(b"\n" + _padded(64), policy=pol) == TOO_LARGE
    assert probe_unchanged(b"  " + _padded(63), policy=pol) == TOO_LARGE


def test_size_limit_is_on_the_span_not_the_buffer():
    pol = {"max_call_bytes": 64}
    c = _padded(64)
    buf = b"x" * 100 + c + b" " + b"y" * 100
    allowed_fresh(buf, pol, 100, 100 + len(c))
    assert probe_unchanged(buf, 100, 101 + len(c), policy=pol) == TOO_LARGE
    # a too-large span is refused even if the object inside is small
    buf2 = PROBE + b" " * 200
    assert probe_unchanged(buf2, 0, len(buf2), policy=pol) == TOO_LARGE


def test_size_limit_default_65536():
    c = _padded(65536)
    allowed_fresh(c)
    assert probe_unchanged(_padded(65537)) == TOO_LARGE
    assert probe_unchanged(_padded(1 << 20)) == TOO_LARGE


# ------------------------------------------------------------------ duplicate keys

@pytest.mark.parametrize("bad", [
    wrap_args(b'{"a": 1, "a": 1}'),
    wrap_args(b'{"a": 1, "a": 2}'),
    wrap_args(b'{"a": 1, "\\u0061": 2}'),
    wrap_args(b'{"\\u0061": 1, "a": 2}'),
    wrap_args(b'{"/": 1, "\\/": 2}'),
    wrap_args(b'{"\\u002f": 1, "/": 2}'),
    wrap_args(b'{"\xf0\x9f\x98\x80": 1, "\\ud83d\\ude00": 2}'),
    wrap_args(b'{"\xc3\xa9": 1, "\\u00E9": 2}'),
    wrap_args(b'{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "a": 6}'),
    wrap_args(b'{"o": {"x": 1, "x": 2}}'),
    wrap_args(b'{"o": {"p": {"q": {"r": 1, "r": 1}}}}'),
    wrap_args(b'{"l": [1, {"x": 1, "y": 2, "x": 3}]}'),
    wrap_args(b'{"l": [{"x": 1}, {"x": 2, "\\u0078": 3}]}'),
    wrap_args(b'{"": 1, "": 2}'),
    b'{"tool": "t", "tool": "t"}',
    b'{"tool": "a", "tool": "b"}',
    b'{"tool": "a", "\\u0074ool": "a"}',
    b'{"tool": "t", "args": {}, "args": {}}',
    b'{"tool": "t", "args": {"a": 1}, "args": {"a": 2}}',
    b'{"tool": "t", "id": 1, "id": 2}',
    b'{"tool": "t", "id": {"n": 1, "n": 2}}',
    b'{"tool": "t", "id": {"n": 1, "\\u006e": 2}}',
    b'{"tool": "t", "id": [{"k": [{"z": 0, "z": 0}]}]}',
])
def test_duplicate_keys(bad):
    assert probe_unchanged(bad) == DUPLICATE_KEY


def test_same_key_in_different_objects_is_fine():
    allowed_fresh(wrap_args(b'{"a": {"x": 1}, "b": {"x": 1}, "x": 0}'))
    allowed_fresh(wrap_args(b'{"l": [{"x": 1}, {"x": 2}], "x": {"x": {"x": 3}}}'))
    allowed_fresh(wrap_args(b'{"a": 1, "A": 1, "a ": 1, " a": 1, "\\u00e9": 1, "e": 1}'))
    allowed_fresh(b'{"tool": "t", "args": {"id": 1, "tool": 2}, "id": {"args": 1, "tool": 2}}')


def test_many_distinct_keys_are_fine():
    # nothing in issue 7 limits the number of keys of an object; 100 distinct keys is a call
    keys = b", ".join(b'"key_%03d": %d' % (i, i) for i in range(100))
    allowed_fresh(wrap_args(b"{" + keys + b"}"))
    dup = keys + b', "key_050": 0'
    assert probe_unchanged(wrap_args(b"{" + dup + b"}")) == DUPLICATE_KEY


# ------------------------------------------------------------------ UTF-8

BAD_UTF8 = [
    b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xe0\x9f\xbf", b"\xf0\x80\x80\xaf",
    b"\xf0\x8f\xbf\xbf",                      # overlong forms
    b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xed\xa0\xbd\xed\xb8\x80",  # UTF-8-encoded surrogates
    b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xf7\xbf\xbf\xbf", b"\xf8\x88\x80\x80\x80",
    b"\xfc\x84\x80\x80\x80\x80", b"\xfe", b"\xff",  # beyond U+10FFFF, bytes > F4
    b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xc3x", b"\xe2\x82x", b"\xf0\x9f\x98x",  # truncated
    b"\x80", b"\xbf", b"\x80\x80",             # lone continuation bytes
    b"\xe2\x28\xa1", b"\xf0\x28\x8c\xbc",      # bad continuation
]


@pytest.mark.parametrize("seq", BAD_UTF8, ids=[s.hex() for s in BAD_UTF8])
def test_invalid_utf8(seq):
    probe_unchanged(wrap_args(b'{"s": "a' + seq + b'b"}'))
    probe_unchanged(wrap_args(b'{"k' + seq + b'": 1}'))
    probe_unchanged(b'{"tool": "t' + seq + b'"}')
    probe_unchanged(wrap_args(b'{"s": "' + seq + b'"}'))
    probe_unchanged(PROBE[:-1] + seq + b"}")


GOOD_UTF8 = [b"\xc2\x80", b"\xc3\xa9", b"\xdf\xbf", b"\xe0\xa0\x80", b"\xe2\x82\xac",
             b"\xed\x9f\xbf", b"\xee\x80\x80", b"\xef\xbf\xbf", b"\xf0\x90\x80\x80",
             b"\xf0\x9f\x98\x80", b"\xf4\x8f\xbf\xbf"]


@pytest.mark.parametrize("seq", GOOD_UTF8, ids=[s.hex() for s in GOOD_UTF8])
def test_valid_utf8_boundaries_are_fine(seq):
    allowed_fresh(wrap_args(b'{"s": "a' + seq + b'b"}'))
    allowed_fresh(b'{"tool": "t' + seq + b'"}')


# ------------------------------------------------------------------ control chars, NUL

@pytest.mark.parametrize("c", list(range(0x20)))
def test_raw_control_chars_in_strings(c):
    ch = bytes([c])
    probe_unchanged(wrap_args(b'{"s": "a' + ch + b'b"}'))
    probe_unchanged(wrap_args(b'{"k' + ch + b'": 1}'))
    probe_unchanged(b'{"tool": "t' + ch + b'"}')


def test_raw_nul_anywhere():
    probe_unchanged(b"\x00" + PROBE)
    probe_unchanged(PROBE + b"\x00")
    probe_unchanged(PROBE.replace(b", ", b",\x00"))
    probe_unchanged(wrap_args(b'{"s": "\x00"}'))


def test_non_json_whitespace_outside_strings():
    for ws in (b"\x0b", b"\x0c", b"\xc2\xa0", b"\xe2\x80\x80"):
        probe_unchanged(PROBE.replace(b", ", b"," + ws))
        probe_unchanged(ws + PROBE)


def test_escaped_controls_and_del_are_fine():
    allowed_fresh(wrap_args(b'{"s": "\\u0000\\u001f\\n\\t\\r\\b\\f\\"\\\\\\/"}'))
    allowed_fresh(wrap_args(b'{"s": "a\x7fb"}'))  # DEL is not a control char in RFC 8259


# ------------------------------------------------------------------ escapes

@pytest.mark.parametrize("esc", [
    b"\\ud800", b"\\udc00", b"\\udfff", b"\\ud800x", b"\\ud800\\u0041", b"\\udc00\\ud800",
    b"\\ud83d", b"\\ud83d\\ud83d", b"\\ude00\\ud83d", b"\\uD800", b"\\ud800\\n",
    b"\\ud800\\\\", b"\\ud83d\\u00e9"])
def test_lone_surrogate_escapes(esc):
    probe_unchanged(wrap_args(b'{"s": "' + esc + b'"}'))
    probe_unchanged(wrap_args(b'{"' + esc + b'": 1}'))
    probe_unchanged(b'{"tool": "t' + esc + b'"}')


@pytest.mark.parametrize("esc", [b"\\x41", b"\\u12", b"\\u12g4", b"\\U0041", b"\\a", b"\\0",
                                 b"\\'", b"\\", b"\\u", b"\\ u0041", b"\\e"])
def test_bad_escapes(esc):
    probe_unchanged(wrap_args(b'{"s": "' + esc + b'"}'))


# ------------------------------------------------------------------ numbers and literals

BAD_NUMBERS = [b"NaN", b"-NaN", b"Infinity", b"-Infinity", b"+Infinity", b"nan", b"inf",
               b"01", b"-01", b"00", b"007", b"0.0.1", b"+1", b".5", b"-.5", b"1.", b"1.e5",
               b"1e", b"1e+", b"1E-", b"-", b"--1", b"0x10", b"1_000", b"1e5.5", b"0e",
               b"TRUE", b"True", b"nul", b"nulll", b"tru", b"fals", b"undefined", b"'x'",
               b"1 2", b"- 1"]
GOOD_NUMBERS = [b"0", b"-0", b"0.5", b"-0.5", b"10", b"1e5", b"1E+5", b"-1.5e-3", b"0e0",
                b"123456789012345678901234567890", b"1.0", b"0.000", b"true", b"false", b"null"]


@pytest.mark.parametrize("num", BAD_NUMBERS)
def test_bad_numbers_and_literals(num):
    probe_unchanged(wrap_args(b'{"n": ' + num + b'}'))
    probe_unchanged(wrap_args(b'{"n": [' + num + b']}'))
    probe_unchanged(b'{"tool": "t", "id": ' + num + b'}')


@pytest.mark.parametrize("num", GOOD_NUMBERS)
def test_good_numbers_and_literals(num):
    allowed_fresh(wrap_args(b'{"n": ' + num + b'}'))
    allowed_fresh(wrap_args(b'{"n": [' + num + b', ' + num + b']}'))


# ------------------------------------------------------------------ syntax

@pytest.mark.parametrize("bad", [
    b'{"tool": "t",}', b'{"tool": "t", "args": {"a": 1,}}', wrap_args(b'{"a": [1, 2,]}'),
    b'{,"tool": "t"}', wrap_args(b'{"a": [,1]}'), wrap_args(b'{"a": [1,,2]}'),
    b'{"tool": "t",, "args": {}}', wrap_args(b'{"a" 1}'), wrap_args(b'{"a": 1 "b": 2}'),
    wrap_args(b"{'a': 1}"), b"{'tool': 't'}", wrap_args(b'{a: 1}'), b'{tool: "t"}',
    wrap_args(b'{"a": 1 /* c */}'), PROBE + b" // c", wrap_args(b'{"a": [1}'),
    wrap_args(b'{"a": {1: 2}}'), wrap_args(b'{"a": {"b"}}'), wrap_args(b'{"a": ]}'),
    b'{"tool": "t" "args": {}}', b'{"tool": "t", "args": {}}}', b'{{"tool": "t"}}',
    b'{"tool": "t"', b'"tool": "t"}', wrap_args(b'{"a": "unterminated}'),
])
def test_syntax_errors(bad):
    probe_unchanged(bad)


# ------------------------------------------------------------------ spans

def test_bad_spans():
    buf = b"    " + PROBE + b"    "
    n = len(buf)
    for start, end in ((-1, n), (0, -1), (-5, -1), (5, 4), (n, n - 1), (0, n + 1), (n + 1, n + 1),
                       (3, 3), (0, 0), (n, n), (1.0, n), (0, float(n)), ("0", n), (0, str(n)),
                       (None, n), ([], n)):
        probe_unchanged(buf, start, end)


def test_bad_start_only():
    for start in (-1, len(PROBE) + 1, 1.5, "1"):
        probe_unchanged(PROBE, start)


def test_good_spans():
    buf = b"xx" + PROBE + b"yy"
    g = allowed_fresh(buf, None, 2, 2 + len(PROBE))
    h = g.last_hash_hex()
    g2 = allowed_fresh(PROBE)
    assert g2.last_hash_hex() == h
    allowed_fresh(bytearray(buf), None, 2, 2 + len(PROBE))
    allowed_fresh(PROBE, None, 0, len(PROBE))
    g3 = Guard()
    assert g3.check(PROBE, 0) == ALLOW
    assert g3.check(PROBE, 0, None) == ALLOW


def test_span_excludes_bytes_outside():
    # the bytes outside the span are not part of the call
    buf = b'{"tool": "a"}{"tool": "b"}'
    g = Guard()
    assert g.check(buf, 0, 13) == ALLOW
    ha = g.last_hash_hex()
    assert g.check(buf, 13, 26) == ALLOW
    hb = g.last_hash_hex()
    assert ha != hb
    probe_unchanged(buf)  # two objects in one span


def test_non_bytes_buffer_never_raises():
    # "fail closed, never crash": a str, None or int instead of bytes is refused
    for buf in ('{"tool": "t"}', None, 12, ['{"tool": "t"}']):
        probe_unchanged(buf)


# ------------------------------------------------------------------ identity

def _hash(call):
    g = Guard()
    v = g.check(call)
    assert v == ALLOW, (call, v, g.reason(v))
    h = g.last_hash_hex()
    assert isinstance(h, str) and len(h) == 8 and int(h, 16) >= 0, h
    assert h == h.lower() or h == h.upper()
    return h


def _same_by_detector(a, b, c=None):
    """With identical 3 and no outcomes: a, b, c blocked at c iff all three are one call."""
    g = Guard()
    assert g.check(a) == ALLOW
    assert g.check(b) == ALLOW
    return g.check(c or a) == IDENTICAL


SAME = [
    (b'{"tool": "t", "args": {"a": 1, "b": "x"}}', b'{"tool": "t", "args": {"b": "x", "a": 1}}'),
    (b'{"tool": "t", "args": {"a": 1, "b": "x"}}', b'{"args": {"b": "x", "a": 1}, "tool": "t"}'),
    (b'{"tool": "t", "args": {"a": 1, "b": "x"}}',
     b' {\n\t"tool" :"t" ,"args":{ "a" : 1 ,\r\n "b":"x" } }\n'),
    (b'{"tool": "t", "args": {"u": "/"}}', b'{"tool": "t", "args": {"u": "\\/"}}'),
    (b'{"tool": "t", "args": {"u": "/"}}', b'{"tool": "t", "args": {"u": "\\u002f"}}'),
    (b'{"tool": "t", "args": {"u": "/"}}', b'{"tool": "t", "args": {"u": "\\u002F"}}'),
    (b'{"tool": "t", "args": {"s": "\xf0\x9f\x98\x80"}}',
     b'{"tool": "t", "args": {"s": "\\ud83d\\ude00"}}'),
    (b'{"tool": "t", "args": {"s": "\xf0\x9f\x98\x80"}}',
     b'{"tool": "t", "args": {"s": "\\uD83D\\uDE00"}}'),
    (b'{"tool": "t", "args": {"s": "caf\xc3\xa9"}}', b'{"tool": "t", "args": {"s": "caf\\u00e9"}}'),
    (b'{"tool": "t", "args": {"s": "a\\nb\\"c"}}', b'{"tool": "t", "args": {"s": "a\\u000ab\\u0022c"}}'),
    (b'{"tool": "t", "args": {"s": "\\u0000"}}', b'{"tool": "t", "args": {"s": "\\u0000"}}'),
    (b'{"tool": "t", "args": {"\xc3\xa9": 1}}', b'{"tool": "t", "args": {"\\u00e9": 1}}'),
    (b'{"tool": "shell", "args": {}}', b'{"tool": "sh\\u0065ll", "args": {}}'),
    (b'{"tool": "t"}', b'{"tool": "t", "args": {}}'),
    (b'{"tool": "t", "args": {"a": 1}}', b'{"tool": "t", "args": {"a": 1}, "id": 1}'),
    (b'{"tool": "t", "args": {"a": 1}, "id": "x"}', b'{"id": {"n": [1, 2]}, "tool": "t", "args": {"a": 1}}'),
    (b'{"tool": "t", "args": {"o": {"x": 1, "y": [1, {"p": 2, "q": 3}]}}}',
     b'{"tool": "t", "args": {"o": {"y": [1, {"q": 3, "p": 2}], "x": 1}}}'),
    (b'{"tool": "t", "args": {"a": [ 1 , 2 ]}}', b'{"tool": "t", "args": {"a": [1,2]}}'),
]


@pytest.mark.parametrize("a,b", SAME)
def test_identity_equal(a, b):
    assert _hash(a) == _hash(b), (a, b)
    assert _same_by_detector(a, b), (a, b)
    assert _same_by_detector(b, a, b), (a, b)


DIFFERENT = [
    (b'{"a": 1}', b'{"a": 1.0}'), (b'{"a": 1}', b'{"a": "1"}'), (b'{"a": 100}', b'{"a": 1e2}'),
    (b'{"a": 0}', b'{"a": -0}'), (b'{"a": 1E5}', b'{"a": 1e5}'), (b'{"a": true}', b'{"a": "true"}'),
    (b'{"a": null}', b'{"a": "null"}'), (b'{"a": null}', b'{}'), (b'{"a": {}}', b'{"a": []}'),
    (b'{"a": []}', b'{}'), (b'{"a": [[]]}', b'{"a": []}'), (b'{"a": [""]}', b'{"a": []}'),
    (b'{"a": ""}', b'{"a": []}'), (b'{"a": ""}', b'{}'), (b'{"a": false}', b'{"a": 0}'),
    (b'{"x": 1, "y": 2}', b'{"x": 2, "y": 1}'),
    (b'{"a": "p", "b": "q"}', b'{"a": "q", "b": "p"}'),
    (b'{"a": 1, "b": 2, "c": 3}', b'{"a": 2, "b": 3, "c": 1}'),
    (b'{"a": 1, "b": 2, "c": 3}', b'{"a": 3, "b": 2, "c": 1}'),
    (b'{"o": {"x": 1, "y": 2}}', b'{"o": {"x": 2, "y": 1}}'),
    (b'{"o": {"x": 1, "y": 2}, "z": 0}', b'{"o": {"x": 2, "y": 1}, "z": 0}'),
    (b'{"x": {"a": 1}, "y": {"b": 2}}', b'{"x": {"b": 2}, "y": {"a": 1}}'),
    (b'{"x": {"a": 1}, "y": {"a": 2}}', b'{"x": {"a": 2}, "y": {"a": 1}}'),
    (b'{"x": [1], "y": [2]}', b'{"x": [2], "y": [1]}'),
    (b'{"a": [1, 2]}', b'{"a": [2, 1]}'), (b'{"a": [[1], [2]]}', b'{"a": [[2], [1]]}'),
    (b'{"a": [1, 2, 3]}', b'{"a": [3, 2, 1]}'), (b'{"a": [{"x": 1}, {"y": 2}]}', b'{"a": [{"y": 2}, {"x": 1}]}'),
    (b'{"a": [{"x": 1, "y": 2}]}', b'{"a": [{"x": 2, "y": 1}]}'),
    (b'{"a": "b"}', b'{"b": "a"}'), (b'{"a": "bc"}', b'{"ab": "c"}'),
    (b'{"a": ["ab", "c"]}', b'{"a": ["a", "bc"]}'), (b'{"a": ["b"]}', b'{"a": "b"}'),
    (b'{"a": {"b": 1}}', b'{"a.b": 1}'), (b'{"a": {"b": 1}}', b'{"a": {"b": {}}}'),
    (b'{"a": [1, [2]]}', b'{"a": [[1], 2]}'), (b'{"a": [1, 2]}', b'{"a": [[1, 2]]}'),
    (b'{"k": "x", "l": "x"}', b'{"k": "y", "l": "y"}'),
    (b'{"ab": 1, "cd": 2}', b'{"ab": 2, "cd": 1}'), (b'{"x1": "a", "x2": "b"}', b'{"x1": "b", "x2": "a"}'),
    (b'{"a": "\\u0000"}', b'{"a": ""}'), (b'{"a": "A"}', b'{"a": "a"}'),
]


@pytest.mark.parametrize("a,b", DIFFERENT)
def test_identity_differs(a, b):
    ca, cb = wrap_args(a), wrap_args(b)
    assert _hash(ca) != _hash(cb), (a, b)
    assert not _same_by_detector(ca, cb), (a, b)


def test_identity_tool_is_part_of_it():
    assert _hash(b'{"tool": "a", "args": {"x": 1}}') != _hash(b'{"tool": "b", "args": {"x": 1}}')
    assert _hash(b'{"tool": "ab", "args": {}}') != _hash(b'{"tool": "a", "args": {"b": {}}}')
    assert _hash(b'{"tool": "x", "args": {"tool": "y"}}') != \
        _hash(b'{"tool": "y", "args": {"tool": "x"}}')


def test_identity_no_collisions_among_random_distinct_calls():
    rnd = random.Random(7)
    seen = {}
    for i in range(3000):
        k = rnd.randrange(1, 4)
        args = {"k%d" % rnd.randrange(5): rnd.choice([rnd.randrange(10), "v%d" % rnd.randrange(10),
                                                       [rnd.randrange(3), rnd.randrange(3)]])
                for _ in range(k)}
        call = json.dumps({"tool": rnd.choice(["t", "u"]), "args": args}, sort_keys=True).encode()
        h = _hash(call)
        if call in seen:
            assert seen[call] == h
        else:
            seen[call] = h
    by_hash = {}
    for c, h in seen.items():
        by_hash.setdefault(h, []).append(c)
    coll = [v for v in by_hash.values() if len(v) > 1]
    assert not coll, coll[:3]


def test_identity_stable_across_guards_and_policies():
    c = wrap_args(b'{"a": [1, {"b": "\\u00e9"}]}')
    hs = {_hash(c)}
    for pol in ({"history": 64}, {"max_depth": 5}, {"loops": {"identical": 0}}):
        g = Guard(pol)
        assert g.check(c) == ALLOW
        hs.add(g.last_hash_hex())
    assert len(hs) == 1


# ------------------------------------------------------------------ fuzz

SEEDS = [
    VALID, PROBE, b'{"tool":"x"}', b'{"args":{"a":[1,2,{"b":"c"}]},"tool":"y","id":null}',
    b'{"tool": "shell", "args": {"cmd": "rm -rf \\/tmp", "env": {"A": "\\u00e9"}}}',
    b'{"tool": "t", "args": {"n": -1.5e+3, "z": 0, "s": "\xe2\x82\xac", "e": ""}}',
]
SPECIALS = b'{}[]":,\\ -+.0123456789eEtrufalsn\x00\x1f\x7f\x80\xbf\xc0\xc3\xed\xef\xf0\xf4\xf5\xff\n'


def _mutate(rnd, data):
    data = bytearray(data)
    for _ in range(rnd.choice((1, 1, 1, 2, 3))):
        op = rnd.randrange(5)
        if op == 0 and data:
            i = rnd.randrange(len(data))
            data[i] ^= 1 << rnd.randrange(8)
        elif op == 1:
            data = data[:rnd.randrange(len(data) + 1)]
        elif op == 2:
            i = rnd.randrange(len(data) + 1)
            ins = bytes([rnd.choice(SPECIALS)]) if rnd.random() < 0.7 else bytes([rnd.randrange(256)])
            data[i:i] = ins
        elif op == 3 and data:
            i = rnd.randrange(len(data))
            del data[i:i + rnd.randrange(1, 4)]
        elif data:
            i = rnd.randrange(len(data))
            data[i] = rnd.choice(SPECIALS)
    return bytes(data)


def test_fuzz_mutations_never_raise_and_leave_history_alone():
    """g1 sees controls and every mutation; g2 sees the controls and only the mutations that the
    spec model finds well-formed. Their verdicts on the controls must stay identical, and every
    mutation the model finds malformed must be refused."""
    rnd = random.Random(20240501)
    controls = [b'{"tool": "ctl", "args": {"i": %d}}' % i for i in range(3)]
    g1, g2 = Guard(), Guard()
    disagreements = []
    for n in range(4000):
        m = _mutate(rnd, rnd.choice(SEEDS))
        try:
            v = g1.check(m)
        except Exception as e:  # noqa: BLE001
            pytest.fail("check() raised %r on %r" % (e, m))
        assert type(v) is int and v >= 0
        try:
            MODEL.parse_call(m)
            model_ok = True
        except MODEL.Malformed:
            model_ok = False
        if model_ok:
            g2.check(m)
            if v != ALLOW and v not in LOOP_CODES:
                disagreements.append(("refused a well-formed call", m, v))
        else:
            if v == ALLOW or v in LOOP_CODES:
                disagreements.append(("accepted malformed input", m, v))
            assert g1.last_entry() == -1
        if n % 7 == 0:
            c = rnd.choice(controls)
            v1, v2 = g1.check(c), g2.check(c)
            assert v1 == v2, "history differs after malformed input (step %d)" % n
            ok = rnd.random() < 0.8
            g1.outcome(ok, b"r")
            g2.outcome(ok, b"r")
    assert not disagreements, disagreements[:10]


def test_fuzz_random_bytes_never_raise():
    rnd = random.Random(99)
    g = Guard({"max_call_bytes": 256, "max_depth": 4})
    for _ in range(2000):
        n = rnd.randrange(0, 300)
        data = bytes(rnd.randrange(256) for _ in range(n))
        v = g.check(data)
        assert type(v) is int and v > 0
        s, e = rnd.randrange(-3, n + 3), rnd.randrange(-3, n + 3)
        v = g.check(data, s, e)
        assert type(v) is int
