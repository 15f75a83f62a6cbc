# Device-side half of bench_link.py: what microloop_serve itself costs per request on the
# device's clock, with no host in the loop. Runs on any MicroPython port (the unix port, or a
# board through `mpremote run`) against whichever microloop_serve is installed, protocol 1 or
# 2: the frames come from memory (io.BytesIO), the answers and grants go to a sink, and the
# wait for input always succeeds. gc is off during each run, so mem_alloc's growth is what the
# requests allocated. Prints one line per case:
#   COST <case> <requests> <us per request> <bytes allocated per request> <payload bytes each>
import gc
import io
import sys
import time

import microloop_serve
from microloop_mpy import Guard

try:
    from binascii import crc32
except ImportError:
    crc32 = None


class Sink:
    def write(self, b, n=-1):
        return len(b) if n < 0 else n


def frame(seq, cmd, payload, args=""):
    c = "%08x" % (crc32(payload) & 0xFFFFFFFF) if crc32 else "-"
    h = "%d %s %d %s%s\n" % (seq, cmd, len(payload), c, (" " + args) if args else "")
    return h.encode() + payload


def call(i, size):
    pad = size - 48
    return b'{"tool": "http_get", "args": {"url": "/p/%05d/' % i + b"a" * pad + b'"}}'


def run(case, frames, per):
    data = b"".join(frames)
    srv = microloop_serve.Server({"max_call_bytes": 8192}, inp=io.BytesIO(data), out=Sink(),
                                 poll_obj=sys.stdin)
    srv._wait = lambda ms: True  # the bytes are all there (both protocol versions call it)
    srv._ipoll = None  # (protocol 2 polls inline when it has ipoll)
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    t0 = time.ticks_us()
    n = 0
    while n < len(frames) and srv.step():
        n += 1
    dt = time.ticks_diff(time.ticks_us(), t0)
    a1 = gc.mem_alloc()
    gc.enable()
    print("COST %s %d %d %d %d" % (case, n, dt // n, (a1 - a0) // n, per))


def check_alone(size, n):
    g = Guard({"max_call_bytes": 8192})
    calls = [call(i, size) for i in range(n)]
    t0 = time.ticks_us()
    for c in calls:
        g.check(c, 0, len(c))
    print("COST check_alone_%d %d %d 0 %d" % (size, n, time.ticks_diff(time.ticks_us(), t0) // n,
                                             size))


N = 30
print("PROTO", microloop_serve.PROTO)
run("check_150", [frame(i + 1, "CHECK", call(i, 150)) for i in range(N)], 150)
check_alone(150, N)
big = bytes(range(256)) * 31 + bytes(64)  # 8000 bytes
run("outcome_8000", [frame(i + 1, "OUTCOME", big, "1 -") for i in range(3)], 8000)
run("check_4000", [frame(i + 1, "CHECK", call(i, 4000)) for i in range(3)], 4000)
check_alone(4000, 3)
