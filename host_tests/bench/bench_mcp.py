# Benchmark (a report, never asserted): the latency `microloop mcp` adds per tools/call,
# p50/p99, against calling the same MCP server directly, in one run. Two servers: the SDK test
# server (host_tests/mcp_failing_server.py, `echo`) and the reference filesystem server from
# npm (`get_file_info`). For each, a direct session and a guarded one are open side by side
# and called in turn (same load on both); every call is new (distinct arguments), so the guard
# does its full work and blocks nothing. All processes are started and stopped here.
#   python host_tests/bench/bench_mcp.py [--calls N]
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from mcp_helpers import FAILING_SERVER, fs_server, guard_cmd, session  # noqa: E402

POLICY = "default"
GUARD_MARK = b"microloop_tools.cli\0mcp"


def cpu_s(marker: bytes) -> float | None:
    """CPU seconds (user + system) used so far by this process's children whose command line
    holds `marker` (Linux /proc; None elsewhere): a process's own cost, less sensitive to a
    busy machine than wall time."""
    total, found = 0.0, False
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return None
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and marker in cmd:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            found = True
    return total if found else None


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] if p < 100 else \
        max(values)


async def measure(server: list[str], calls: int, tool: str,
                  args_of: Any) -> tuple[list[float], list[float], float | None, float | None]:
    direct: list[float] = []
    guarded: list[float] = []
    async with session(server) as d, session(guard_cmd(server, "--policy", POLICY)) as g:
        for i in range(20):  # warm-up, not counted
            await d.call_tool(tool, args_of(-1 - i))
            await g.call_tool(tool, args_of(-1 - i))
        # the guard is this process's child; the direct session's server is too (the guarded
        # session's server is the guard's child)
        marks = (GUARD_MARK, Path(server[-1] if server[0] == sys.executable else server[0]
                                  ).name.encode())
        cpu0 = [cpu_s(m) for m in marks]
        for i in range(calls):
            for s, out in ((d, direct), (g, guarded)) if i % 2 else ((g, guarded), (d, direct)):
                t0 = time.perf_counter()
                r = await s.call_tool(tool, args_of(i))
                out.append((time.perf_counter() - t0) * 1000)
                if r.isError:
                    raise RuntimeError(f"{tool} failed: {r.content}")
        cpu1 = [cpu_s(m) for m in marks]
    cpu = [None if a is None or b is None else (b - a) * 1000 / calls
           for a, b in zip(cpu0, cpu1)]
    return direct, guarded, cpu[0], cpu[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=1000, help="timed calls per session")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = Path(tmp)
        for i in range(-20, args.calls):
            (files / f"f{i}.txt").write_text(str(i), encoding="utf-8")

        async def both() -> None:
            with anyio.fail_after(600):
                rows.append(("SDK test server, echo", *await measure(
                    FAILING_SERVER, args.calls, "echo", lambda i: {"text": f"message {i}"})))
                rows.append(("npm filesystem server, get_file_info", *await measure(
                    fs_server(files), args.calls, "get_file_info",
                    lambda i: {"path": str(files / f"f{i}.txt")})))
        anyio.run(both)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"microloop mcp: latency per tools/call over stdio (ms), {args.calls} calls per "
          f"session, policy {POLICY!r}, load average {load:.1f} on {os.cpu_count()} cores")
    print("(added = guarded minus direct, per percentile; sessions called in turn; CPU = "
          "user+system ms per call of the microloop mcp process and of the server called "
          "directly)")
    head = (f"{'server, tool':<38} | {'direct p50':>10} {'p99':>6} | {'guarded p50':>11} "
            f"{'p99':>6} | {'added p50':>9} {'p99':>6} | {'guard CPU':>9} {'server CPU':>10}")
    print(head)
    print("-" * len(head))
    for name, d, g, gcpu, scpu in rows:
        d50, d99, g50, g99 = pct(d, 50), pct(d, 99), pct(g, 50), pct(g, 99)
        gtext, stext = ("n/a" if c is None else f"{c:.3f}" for c in (gcpu, scpu))
        print(f"{name:<38} | {d50:>10.3f} {d99:>6.3f} | {g50:>11.3f} {g99:>6.3f} | "
              f"{g50 - d50:>9.3f} {g99 - d99:>6.3f} | {gtext:>9} {stext:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
