# Device check: the viper single pass (_pass.py, native code compiled by THIS port's emitter,
# or loaded from .mpy) against its pure twin (_pass_twin.py) and the reference scanner
# (scan.py), bit for bit, on edge values and on seeded random mutations. Runs unchanged on
# CPython (twin vs reference only), the unix port and a board (via `mpremote run`).
# The host may prepend `N = <count>` to choose how many random cases run.
# Last line: "CHECKED <cases> MISMATCH <m> VIPER <0|1>".
import sys
from array import array

from microloop_mpy._pass_twin import scan_call as twin_scan, crc_span16 as twin_span
from microloop_mpy.fastscan import work_array, io_array
from microloop_mpy.crc import T32, PASS_TABLES
from microloop_mpy.scan import Scanner

try:
    N
except NameError:
    N = 300
VIPER = 1
try:
    if sys.implementation.name != "micropython":
        raise ImportError("CPython has no viper")
    from microloop_mpy._pass import scan_call as vip_scan, crc_span16 as vip_span
except Exception as e:  # noqa: BLE001 -- print why, and check the twin alone
    print("NOVIPER", type(e).__name__, e)
    VIPER = 0
    vip_scan = None
    vip_span = None

SEEDS = [
    b'{"tool": "http_get", "args": {"url": "https://api.example.com/v1/items/0001", "timeout": 30, "headers": {"accept": "application/json"}, "retry": false}}',
    b'{"tool":"x","args":{"a":1,"a":2}}',
    b'{"tool":"x","args":{"a":{"b":[1,2,{"c":null}]},"d":[],"e":{}},"id":"c1"}',
    b'{"id": 7, "args": {"k": "\\u00e9\\ud83d\\ude00\\n\\t\\"\\\\\\/"}, "tool": "\\u0074ool"}',
    b'{"tool": "caf\xc3\xa9", "args": {"\xf0\x9f\x98\x80": "\xe2\x82\xac", "n": -0.5e+10}}',
    b'{"tool":"t","args":{}}',
    b' {"tool" : "t" , "args" : { "x" : true , "y" : [ 1 , 2 ] } } ',
]
EDGES = [
    b"", b"{", b"}", b"{}", b'{"tool":""}', b'{"tool":1}', b'{"tool":"a","args":[]}',
    b'{"tool":"a","args":{"x":01}}', b'{"tool":"a","args":{"x":1.}}', b'{"tool":"a","args":{"x":-}}',
    b'{"tool":"a","args":{"x":NaN}}', b'{"tool":"a","args":{"x":tru}}', b'{"tool":"a","args":{"x":fals',
    b'{"tool":"a","args":{"x":"\\ud800"}}', b'{"tool":"a","args":{"x":"\\udc00"}}',
    b'{"tool":"a","args":{"x":"\\ud800\\u0041"}}', b'{"tool":"a","args":{"x":"\\uZZZZ"}}',
    b'{"tool":"a","args":{"x":"\\u12', b'{"tool":"a","args":{"x":"\xc0\x80"}}',
    b'{"tool":"a","args":{"x":"\xed\xa0\x80"}}', b'{"tool":"a","args":{"x":"\xf4\x90\x80\x80"}}',
    b'{"tool":"a","args":{"x":"\xe2\x82', b'{"tool":"a","args":{"x":"\x01"}}',
    b'{"tool":"a","other":1}', b'{"tool":"a","tool":"b"}', b'{"tool":"a"} x', b'{"tool":"a",}',
    b'{"tool":"a","args":{"x":[1,]}}', b'{"tool":"a","args":{"x":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}}',
    b'{"tool":"a","args":{"x":"\x7f"}}', b'{"tool":"a","args":{"x":1e}}', b'{"tool":"a","args":{"x":1e+5}}',
]
ALPHABET = b'{}[]",:\\ 0-.eE\x00\x1f\x7f\xc0\xed\xf4\xffu'
_seed = [12345]


def rnd(n):
    # a small LCG: the same sequence on every port (values stay below 2**31)
    _seed[0] = (_seed[0] * 1103515245 + 12345) & 0x7FFFFFFF
    return (_seed[0] >> 8) % n


def mutate(data):
    d = bytearray(data)
    for _ in range(1 + rnd(3)):
        op = rnd(10)
        i = rnd(len(d) + 1)
        if op < 4 and i < len(d):
            d[i] = ALPHABET[rnd(len(ALPHABET))]
        elif op < 7:
            d[i:i] = bytes((rnd(256),))
        elif i < len(d):
            d[i:i + 1] = b""
    return bytes(d)


MAX_DEPTH = 16
SLOTS = 32
ref = Scanner(MAX_DEPTH, SLOTS)
tw = work_array(MAX_DEPTH, SLOTS)
tio = io_array(MAX_DEPTH, SLOTS)
vw = work_array(MAX_DEPTH, SLOTS)
vio = io_array(MAX_DEPTH, SLOTS)
bad = 0
cases = 0


def result(fn, w, io, buf, start, end):
    for k in range(3, 15):
        io[k] = 0
    v = fn(buf, start, end, T32, w, PASS_TABLES, io)
    return [v] + ([io[k] for k in range(3, 15)] if v == 0 else [])


def ref_result(buf, start, end):
    v = ref.scan(buf, start, end)
    if v:
        return [v]
    s = ref.args_s
    return [0, ref.call_h, ref.call_l, ref.tool_h, ref.tool_l, ref.tool_n, ref.tool_s,
            ref.tool_e, ref.tool_esc, s + 1 if s >= 0 else 0, ref.args_e if s >= 0 else 0,
            ref.args_h, ref.args_l]


def check(buf, start, end):
    global bad, cases
    cases += 1
    want = ref_result(buf, start, end)
    got_t = result(twin_scan, tw, tio, buf, start, end)
    got_v = result(vip_scan, vw, vio, buf, start, end) if VIPER else got_t
    if got_t != want or got_v != want:
        bad += 1
        if bad <= 5:
            print("MISMATCH", buf[start:end], "ref", want, "twin", got_t, "viper", got_v)


for s in SEEDS + EDGES:
    check(s, 0, len(s))
    if len(s) > 4:  # a span inside a larger buffer, both ends
        b = b"xx" + s + b"yy"
        check(b, 2, 2 + len(s))
for k in range(N):
    s = mutate(SEEDS[rnd(len(SEEDS))])
    check(s, 0, len(s))
# the CRC over outcome bytes, from edge and random registers
for k in range(N // 4 + 8):
    buf = bytes(rnd(256) for _ in range(rnd(40)))
    i = rnd(len(buf) + 1)
    e = i + rnd(len(buf) - i + 1)
    init = ((0, 0), (0xFFFF, 0xFFFF), (0x8000, 1), (rnd(65536), rnd(65536)))[k % 4]
    a = array("H", init)
    b = array("H", init)
    ra = twin_span(buf, i, e, a, T32)
    rb = vip_span(buf, i, e, b, T32) if VIPER else ra
    if VIPER:
        pass
    else:
        b = a
    cases += 1
    if ra != rb or a[0] != b[0] or a[1] != b[1]:
        bad += 1
        if bad <= 5:
            print("MISMATCH crc_span16", buf, i, e, init, list(a), list(b))
print("CHECKED", cases, "MISMATCH", bad, "VIPER", VIPER)
