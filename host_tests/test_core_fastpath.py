# CPython's fast path (json.loads + zlib) against the reference scanner (the definition):
# identical identities on random well-formed calls, and identical verdict codes on random
# mutations of them -- the fast path must never accept what the reference refuses.
import json
import random

from microloop_mpy._cpython_scan import FastScanner
from microloop_mpy.scan import Scanner

ATOMS = ["a", "\u00e9x", "", "\U0001F600", "x/y", "tab\there", 1, -2.5e3, 0, 10**20, True,
         False, None]


def _value(rng, depth):
    r = rng.random()
    if depth > 5 or r < 0.35:
        return rng.choice(ATOMS)
    if r < 0.7:
        return {rng.choice("abcdefg") + str(i): _value(rng, depth + 1)
                for i in range(rng.randint(0, 4))}
    return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def _call(rng):
    call = {"tool": rng.choice(["a", "shell", "\u00e9t\u00e9"]),
            "args": {k: _value(rng, 3) for k in "xyz"[:rng.randint(0, 3)]}}
    if rng.random() < 0.3:
        call["id"] = _value(rng, 2)
    items = list(call.items())
    rng.shuffle(items)
    return json.dumps(dict(items), ensure_ascii=rng.random() < 0.5,
                      separators=rng.choice([(",", ":"), (", ", ": ")])).encode()


def _scan(scanner, data):
    code = scanner.scan(data, 0, len(data))
    return code, (scanner.call_h, scanner.call_l) if code == 0 else None


def test_identities_equal_on_random_calls():
    rng = random.Random(11)
    ref, fast = Scanner(16, 128), FastScanner(16, 128, cache_size=1)
    for _ in range(3000):
        data = _call(rng)
        assert _scan(fast, data) == _scan(ref, data), data


def test_codes_equal_on_random_mutations():
    rng = random.Random(12)
    ref, fast = Scanner(6, 16), FastScanner(6, 16, cache_size=1)
    accepted = 0
    for _ in range(6000):
        data = bytearray(_call(rng))
        for _ in range(rng.randint(1, 3)):
            op = rng.random()
            i = rng.randrange(len(data) + 1)
            if op < 0.4 and i < len(data):
                data[i] = rng.choice(b'{}[]",:\\ 0-.eE\x00\x1f\x7f\xc0\xed\xf4\xffu')
            elif op < 0.7:
                data[i:i] = bytes([rng.randrange(256)])
            elif i < len(data):
                del data[i]
        data = bytes(data)
        got, want = _scan(fast, data), _scan(ref, data)
        assert got == want, data
        accepted += want[0] == 0
    assert accepted > 100  # the mutations leave some calls well-formed: both paths were used
