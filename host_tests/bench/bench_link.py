"""Benchmark of the serial link (a report, never a test), protocol 2 with flow control.

Host in the loop: round trip of a 150-byte CHECK (wall clock, host write to answer parsed),
p50/p99; the device's own receive time for it (rx_us: header's first byte to payload's last)
and its check() time, p50, on the device clock; the time per request on the device clock
(STATS ticks_us over the run); payload throughput of 8000-byte OUTCOME results, wall and device
clock. On the virtual board the same runs with flow control off show what the window costs
(a pty loses nothing, so both are correct there).

Device only (`_serve_cost.py`, run on the board itself): what microloop_serve costs per
request with every byte already there, and what it allocates.

Run: .venv/bin/python host_tests/bench/bench_link.py [-n 200]            (virtual board)
     .venv/bin/python host_tests/bench/bench_link.py --board rp2040 --port /dev/ttyACM0
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from microloop_tools import boards, build, link, vboard  # noqa: E402
from microloop_tools.paths import micropython, tool  # noqa: E402

COST = Path(__file__).resolve().parent / "_serve_cost.py"
TICKS = 1 << 30  # MicroPython's ticks period


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[max(0, min(len(s) - 1, int(round(q / 100 * len(s))) - 1))] if s else 0.0


def call(i: int) -> bytes:
    c = b'{"tool": "http_get", "args": {"url": "https://example.org/items/%06d/' % i
    return c + b"x" * (150 - len(c) - 3) + b'"}}'


def run(L: link.DeviceLink, n: int, max_call: int) -> dict:
    L.load_policy({"max_call_bytes": max_call})
    for i in range(5):  # warm up
        L.check(call(10_000 + i))
    t0 = L.stats()["ticks_us"]
    rt, rx, us = [], [], []
    for i in range(n):
        a = L.check(call(i))
        rt.append(a.rt_ms)
        rx.append(a.rx_us)
        us.append(a.us)
    t1 = L.stats()["ticks_us"]
    dev_ms = ((t1 - t0) % TICKS) / 1000 / (n + 1)
    result = bytes(range(256)) * 31 + bytes(64)  # 8000 bytes, 0x01 included
    m = 10
    s0 = L.stats()["ticks_us"]
    w0 = time.perf_counter()
    for _ in range(m):
        L.outcome(True, result)
    wall = time.perf_counter() - w0
    s1 = L.stats()["ticks_us"]
    dev_s = ((s1 - s0) % TICKS) / 1e6
    kb = m * len(result) / 1024
    return {"rt50": pct(rt, 50), "rt99": pct(rt, 99), "rx50": pct(rx, 50), "us50": pct(us, 50),
            "dev_ms": dev_ms, "kbs_wall": kb / wall, "kbs_dev": kb / dev_s}


def device_cost(port: str | None, flash: Path | None) -> str:
    """_serve_cost.py on the board (mpremote run) or on the virtual board's unix port."""
    if port:
        # then serve again: `run` leaves the board at the REPL
        r = subprocess.run([tool("mpremote"), "connect", port, "resume", "run", str(COST),
                            "+", "exec", "--no-follow",
                            "import microloop_serve; microloop_serve.serve()"],
                           capture_output=True, text=True, timeout=600)
    else:
        r = subprocess.run([micropython(), "-X", "heapsize=512k", str(COST)], cwd=flash,
                           capture_output=True, text=True, timeout=600,
                           env={"MICROPYPATH": f".frozen:{flash}:{flash / 'lib'}"})
    return r.stdout + r.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--board", default="unix")
    ap.add_argument("--port", help="a board running microloop_serve (default: the virtual board)")
    ap.add_argument("-n", type=int, default=200, help="150-byte CHECKs per run")
    ap.add_argument("--no-device-cost", action="store_true")
    args = ap.parse_args()
    b = boards.load(args.board)
    rows = []
    with tempfile.TemporaryDirectory(prefix="microloop-bench-") as tmp:
        out = build.build(b.name if b.virtual else "unix", Path(tmp)).out_dir
        vb = None
        port = args.port
        if port is None:
            vb = vboard.VirtualBoard.from_board("unix", populate_from=out)
            port = vb.start()
        try:
            for flow in ((True, False) if vb else (True,)):
                with link.DeviceLink.open(port, b.baud, b.dtr, b.rts, timeout=30.0,
                                          window=b.serial_window) as L:
                    L.handshake(timeout=20.0)
                    L.flow = flow
                    h = L.hello
                    rows.append((flow, run(L, args.n, b.max_call_bytes)))
                    L.load_policy({"max_call_bytes": b.max_call_bytes})
        finally:
            if vb is not None:
                vb.stop()
        cost = "" if args.no_device_cost else device_cost(args.port, out)
    print(f"serial link on {b.name} ({h.impl} {h.platform}, protocol {h.proto}, window "
          f"{h.win}, grants of {h.grant} B), {args.n} CHECKs of 150 B, 10 OUTCOMEs of 8000 B")
    print()
    print(f"{'flow control':<13} {'rt p50 ms':>10} {'rt p99 ms':>10} {'rx_us p50':>10} "
          f"{'check us p50':>13} {'dev ms/req':>11} {'KB/s wall':>10} {'KB/s dev':>9}")
    for flow, r in rows:
        print(f"{'on' if flow else 'off':<13} {r['rt50']:>10.2f} {r['rt99']:>10.2f} "
              f"{r['rx50']:>10.0f} {r['us50']:>13.0f} {r['dev_ms']:>11.2f} "
              f"{r['kbs_wall']:>10.0f} {r['kbs_dev']:>9.0f}")
    if cost:
        print()
        print("device only (_serve_cost.py: every byte already there), per request:")
        print(f"{'case':<18} {'requests':>8} {'us':>9} {'B allocated':>12} {'payload B':>10}")
        for line in cost.splitlines():
            f = line.split()
            if f and f[0] == "COST":
                print(f"{f[1]:<18} {f[2]:>8} {f[3]:>9} {f[4]:>12} {f[5]:>10}")
            elif f and f[0] == "PROTO":
                print(f"(microloop_serve protocol {f[1]})")
            elif f:
                print(line)


if __name__ == "__main__":
    main()
