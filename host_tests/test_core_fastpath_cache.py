# The CPython fast path's member and key caches (_cpython_scan.py) must never change an identity
# or a verdict: the same scalar member seen again, in another object, at another depth or after
# the caches were emptied, hashes exactly as the reference scanner defines it; the caches stay
# within their bounds.
import json
import random

import microloop_mpy._cpython_scan as fast_mod
from microloop_mpy._cpython_scan import FastScanner
from microloop_mpy.scan import Scanner

from test_core_fastpath import _call, _scan


def test_identities_equal_while_the_caches_fill_and_empty(monkeypatch):
    # tiny bounds: the caches are emptied every few calls, so hits and misses interleave
    monkeypatch.setattr(fast_mod, "_MEMBERS_MAX", 7)
    monkeypatch.setattr(fast_mod, "_KEYS_MAX", 3)
    rng = random.Random(21)
    ref, fast = Scanner(16, 128), FastScanner(16, 128, cache_size=1)
    for _ in range(1500):
        data = _call(rng)
        assert _scan(fast, data) == _scan(ref, data), data
        assert len(fast._members) <= 7 and len(fast._keys) <= 3


def test_a_cached_member_rehashed_in_other_places():
    # one scalar member, first flat, then nested in an object and an array, with a duplicate
    # key and past the depth limit: each verdict and identity as the reference's
    ref, fast = Scanner(4, 128), FastScanner(4, 128, cache_size=1)
    member = '"limit": 4096'
    calls = [
        '{"tool": "t", "args": {%s}}' % member,
        '{"tool": "t", "args": {"a": {%s}}}' % member,
        '{"tool": "t", "args": {"a": [{%s}, 1]}}' % member,
        '{"tool": "t", "args": {%s, %s}}' % (member, member),
        '{"tool": "t", "args": {"a": {"b": {"c": {%s}}}}}' % member,
        '{"tool": "t", "args": {"limit": "4096"}}',
        '{"tool": "t", "args": {"limit": 4096.0}}',
        '{"tool": "t", "args": {"limit": true}}',
        '{"tool": "t", "args": {"limit": 1}}',
    ]
    results = []
    for text in calls * 2:  # twice: the second round reads the caches
        data = text.encode()
        got = _scan(fast, data)
        assert got == _scan(ref, data), text
        results.append(got)
    assert results[:len(calls)] == results[len(calls):]
    codes = [r[0] for r in results[:len(calls)]]
    assert codes[3] != 0 and codes[4] != 0  # the duplicate key and the depth were refused
    assert len({r[1] for r in results[5:9]}) == 4  # "4096", 4096.0, true, 1: four identities


def test_cache_keeps_no_long_values():
    fast = FastScanner(16, 128)
    long_value = "x" * 500
    data = json.dumps({"tool": "t", "args": {"a": long_value, "b": 1}}).encode()
    assert fast.scan(data, 0, len(data)) == 0
    assert all(len(k) + len(v) <= fast_mod._SHORT for k, v in fast._members)
