# The viper inner loops (_viper.py, native code on the unix port) against their pure twins
# (_twin.py): same arguments, same results, bit for bit, on random buffers and registers.
from runtimes import run_mp

CODE = r"""
import random
from array import array
from microloop_mpy import _viper, _twin
from microloop_mpy.crc import TLO, THI, SBOX
from microloop_mpy._compat import HAVE_VIPER
print("HAVE_VIPER", HAVE_VIPER)
random.seed(7)
bad = 0
runs = 0
for trial in range(400):
    n = random.randint(0, 64)
    buf = bytes(random.choice(b'ab "\\\x01\x7f\xc3\xa9/x{}') for _ in range(n))
    i = random.randint(0, n)
    end = random.randint(i, n)
    for name in ("crc_plain", "crc_span"):
        sa = array("H", [random.getrandbits(16), random.getrandbits(16)])
        sb = array("H", [sa[0], sa[1]])
        ra = getattr(_viper, name)(buf, i, end, sa, TLO, THI)
        rb = getattr(_twin, name)(buf, i, end, sb, TLO, THI)
        runs += 1
        if ra != rb or list(sa) != list(sb):
            bad += 1
    ra = _viper.skip_ws(buf, i, end)
    rb = _twin.skip_ws(buf, i, end)
    bad += ra != rb
    st1 = array("H", [random.getrandbits(16) for _ in range(6)])
    st2 = array("H", list(st1))
    _viper.fold_member(st1, TLO, THI, SBOX)
    _twin.fold_member(st2, TLO, THI, SBOX)
    bad += list(st1) != list(st2)
    st1 = array("H", [random.getrandbits(16) for _ in range(4)])
    st2 = array("H", list(st1))
    _viper.fold_hash(st1, TLO, THI)
    _twin.fold_hash(st2, TLO, THI)
    bad += list(st1) != list(st2)
    ah = array("H", [random.getrandbits(2) for _ in range(8)])
    al = array("H", [random.getrandbits(2) for _ in range(8)])
    h, l = random.getrandbits(2), random.getrandbits(2)
    bad += _viper.find_pair(ah, al, 1, 7, h, l) != _twin.find_pair(ah, al, 1, 7, h, l)
    runs += 4
# obj_members on random object bodies, well-formed and damaged
from microloop_mpy.scan import S_KEY_HI, S_KEY_LO, S_STR_HI, S_STR_LO, S_NUM_HI, S_NUM_LO
parts = [b'"a"', b'"key_1"', b'"\\u0061"', b'"x\xc3\xa9"', b':', b' ', b',', b'}', b'{', b'[1]',
         b'12', b'-0.5e+3', b'01', b'1.', b'true', b'fals', b'null', b'"v w"', b'"', b'\n']
for trial in range(1500):
    body = b"".join(random.choice(parts) for _ in range(random.randint(0, 14)))
    if random.random() < 0.5:
        body = b'"k%d": "v", "n": 1, "t": true}' % trial + body
    outs = []
    init = [random.getrandbits(16) if t < 3 else 0 for t in range(12)]
    for mod in (_viper, _twin):
        st = array("H", init)
        st[6], st[7], st[8], st[9], st[10], st[11] = S_KEY_HI, S_KEY_LO, S_STR_HI, S_STR_LO, S_NUM_HI, S_NUM_LO
        kh = array("H", [7] * 8)
        kl = array("H", [9] * 8)
        st[3] = 2
        r = mod.obj_members(body, 0, len(body), st, TLO, THI, SBOX, kh, kl, 1, 8)
        outs.append((r, list(st), list(kh), list(kl)))
    runs += 1
    bad += outs[0] != outs[1]
print("RUNS", runs, "BAD", bad)
"""


def test_viper_matches_twin_on_the_unix_port():
    out = run_mp("unix", CODE, timeout=120).split()
    assert out[:2] == ["HAVE_VIPER", "True"]  # the guard really uses viper there
    assert int(out[out.index("RUNS") + 1]) >= 3900
    assert out[-1] == "0", out


def test_wasm_port_falls_back_to_the_twin():
    out = run_mp("wasm", "from microloop_mpy._compat import HAVE_VIPER\nprint(HAVE_VIPER)\n",
                 timeout=60)
    assert out.strip() == "False"


def test_twin_crc_equals_zlib():
    import zlib
    from array import array

    from microloop_mpy import _twin
    from microloop_mpy.crc import TLO, THI

    data = bytes(range(256)) * 3
    st = array("H", [0xFFFF, 0xFFFF])
    _twin.crc_span(data, 0, len(data), st, TLO, THI)
    assert ((st[0] << 16) | st[1]) ^ 0xFFFFFFFF == zlib.crc32(data)
