# Benchmark (a report, never asserted): the latency the microloop proxy adds per chat request,
# p50/p99 at 1 and 50 concurrent clients, against the same scripted upstream called directly,
# in one run. The upstream and the proxy run as separate processes on 127.0.0.1 (started and
# stopped here), so the client, the proxy and the upstream do not share a GIL.
#   python host_tests/bench/bench_proxy.py [--requests N] [--history K]
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import h11
import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], health: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{args} exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(health, timeout=1).status_code < 500:
                return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{args} did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def request_body(history: int, stream: bool) -> dict[str, Any]:
    """A conversation with `history` earlier tool calls (distinct pages) and their results;
    the scripted model answers with one more tool call, which the proxy checks."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": "read the docs"}]
    for i in range(history):
        # keep the turn count even: scripted-cycle then asks for page /a
        messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": f"h{i}", "type": "function", "function": {
                "name": "open_page", "arguments": json.dumps({"url": f"https://docs/p{i}"})}}]})
        messages.append({"role": "tool", "tool_call_id": f"h{i}",
                         "content": f"text of page {i} " * 20})
    return {"model": "scripted-cycle", "messages": messages, "stream": stream}


class Conn:
    """One keep-alive HTTP/1.1 connection driven by h11 on asyncio streams: a lean client,
    so the numbers are the servers' (httpx's pool costs ~5 ms of client CPU per request at
    50 concurrent connections, more than what is being measured)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.conn = h11.Connection(h11.CLIENT)

    async def post(self, path: str, payload: bytes) -> bytes:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        c = self.conn
        headers = [("host", f"{self.host}:{self.port}"), ("content-type", "application/json"),
                   ("content-length", str(len(payload)))]
        self.writer.write(c.send(h11.Request(method="POST", target=path, headers=headers))
                          + c.send(h11.Data(data=payload)) + c.send(h11.EndOfMessage()))
        body = bytearray()
        status = 0
        while True:
            event = c.next_event()
            if event is h11.NEED_DATA:
                c.receive_data(await self.reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
        c.start_next_cycle()
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {bytes(body[:200])!r}")
        return bytes(body)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def measure(base: str, body: dict[str, Any], clients: int, total: int) -> list[float]:
    """Latency (ms) of `total` requests issued by `clients` concurrent connections."""
    url = httpx.URL(base)
    path = url.raw_path.decode().rstrip("/") + "/chat/completions"
    payload = json.dumps(body).encode()
    lat: list[float] = []
    conns = [Conn(url.host, url.port or 80) for _ in range(clients)]

    async def worker(conn: Conn, n: int) -> None:
        for _ in range(n):
            t0 = time.perf_counter()
            out = await conn.post(path, payload)
            lat.append((time.perf_counter() - t0) * 1000)
            assert b"tool_calls" in out

    try:
        await asyncio.gather(*(worker(c, 3) for c in conns))  # warm-up: connections, caches
        lat.clear()
        await asyncio.gather(*(worker(c, total // clients) for c in conns))
    finally:
        for c in conns:
            c.close()
    return lat


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=1000, help="requests per row (1000)")
    ap.add_argument("--history", type=int, default=10, help="earlier tool calls per request")
    args = ap.parse_args(argv)
    up_port, px_port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    proxy = f"http://127.0.0.1:{px_port}/v1"
    up = start(["-m", "microloop_host.fake_upstream", "--port", str(up_port)],
               upstream + "/models")
    try:
        px = start(["-m", "microloop_host.proxy", "--upstream", upstream, "--port", str(px_port),
                    "--log-level", "warning"], f"http://127.0.0.1:{px_port}/healthz")
        try:
            rows = []
            for stream in (False, True):
                body = request_body(args.history, stream)
                for clients in (1, 50):
                    direct = asyncio.run(measure(upstream, body, clients, args.requests))
                    via = asyncio.run(measure(proxy, body, clients, args.requests))
                    rows.append((clients, stream, direct, via))
        finally:
            stop(px)
    finally:
        stop(up)
    print(f"microloop proxy: added latency per chat request (ms); {args.requests} requests per "
          f"row, {args.history} earlier tool calls replayed per request, one tool call checked")
    print("(added = proxied minus direct, per percentile; the scripted upstream answers at once,"
          " so this is the proxy's own cost plus one extra loopback hop)")
    head = (f"{'clients':>7} {'stream':>6} | {'direct p50':>10} {'p99':>7} | {'proxied p50':>11} "
            f"{'p99':>7} | {'added p50':>9} {'p99':>7}")
    print(head)
    print("-" * len(head))
    for clients, stream, direct, via in rows:
        d50, d99, v50, v99 = pct(direct, 50), pct(direct, 99), pct(via, 50), pct(via, 99)
        print(f"{clients:>7} {str(stream).lower():>6} | {d50:>10.2f} {d99:>7.2f} | {v50:>11.2f} "
              f"{v99:>7.2f} | {v50 - d50:>9.2f} {v99 - d99:>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
