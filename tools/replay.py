# microloop_tools.replay -- stream trajectories to a device, run the same ones on CPython, and
# report parity (verdict, hash, entry, rule), `expect` mismatches, on-device µs and round-trip ms.
#
# The CPython side is microloop_mpy.trajectory.Replay itself (the reference every runtime is
# compared with); the device side sends the same call bytes (trajectory.call_bytes, or a
# step's "raw" text), the same outcomes, clock and restarts over the serial protocol.
#
# The report is JSONL, written and flushed one line per step, so a disconnect or device reset
# loses nothing already measured; --resume reads it back, skips finished trajectories, replays
# the recorded prefix of an unfinished one without recording it (the fresh device needs that
# history), and records from the first missing step on.
#
# Never decides a verdict itself: it only compares what the two guards said.
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from .link import CheckAnswer, DeviceLink, DeviceTimeout, LinkError

REPORT_VERSION = 1


# ---- trajectories ---------------------------------------------------------------------------
@dataclass
class Step:
    index: int
    line: bytes
    kind: str  # "call", "report" or "restart"
    call: bytes | None = None
    ok: int | None = None  # 1, 0, or None: nothing to report (as the guard would ignore it)
    result: bytes = b""
    report: int = -1
    t_ms: int | None = None
    expect: str | None = None


@dataclass
class Trajectory:
    path: Path
    key: str
    name: str
    policy: dict | None
    steps: list[Step]
    cpython_only: bool = False


def ok_flag(ok: Any) -> int | None:
    """How Guard.outcome reads `ok`: True/1 ran fine, False/0 failed, anything else ignored."""
    if ok is None:
        return None
    if ok is True or ok == 1:
        return 1
    if ok is False or ok == 0:
        return 0
    return None


def result_bytes(step: dict) -> bytes:
    """The result bytes exactly as microloop_mpy.trajectory.Replay reports them."""
    r = step.get("result", "")
    return r.encode("utf-8") if isinstance(r, str) else json.dumps(r).encode()


def load_trajectory(path: Path) -> Trajectory:
    from microloop_mpy import trajectory as tr

    path = Path(path)
    policy = None
    name = path.stem
    steps: list[Step] = []
    first = True
    for raw in path.read_bytes().split(b"\n"):
        line = raw.strip()
        if not line:
            continue
        d = json.loads(line)
        if first:
            first = False
            if "policy" in d and "tool" not in d and "raw" not in d:
                policy = d["policy"]
                name = d.get("name", name)
                continue
        i = len(steps)
        t = d.get("t_ms")
        if d.get("restart"):
            steps.append(Step(i, line, "restart", t_ms=t))
        elif "report" in d:
            steps.append(Step(i, line, "report", ok=ok_flag(d.get("ok")), result=result_bytes(d),
                              report=d["report"], t_ms=t))
        else:
            call = d["raw"].encode("utf-8") if "raw" in d else tr.call_bytes(line)
            if call is None:
                raise ValueError(f"{path}: step {i} names no call")
            steps.append(Step(i, line, "call", call=call, ok=ok_flag(d.get("ok")),
                              result=result_bytes(d), t_ms=t, expect=d.get("expect")))
    cpy_only = policy is not None and tr.policy_needs_cpython(policy)
    return Trajectory(path, path.stem, str(name), policy, steps, cpy_only)


def effective_policy(policy: dict | None, max_call_bytes: int) -> dict:
    """The policy both sides run: the trajectory's, with the board's max_call_bytes preset
    when the trajectory does not set one (a board's receive buffer bounds it)."""
    p = dict(policy or {})
    p.setdefault("max_call_bytes", max_call_bytes)
    return p


def cpython_results(traj: Trajectory, policy: dict) -> list[dict]:
    """Per step, what microloop_mpy.trajectory.Replay says on CPython."""
    from microloop_mpy.trajectory import Replay

    with tempfile.TemporaryDirectory(prefix="microloop-cpy-") as state_dir:
        rp = Replay(policy, state_dir)
        return [json.loads(rp.step(s.index, s.line)) for s in traj.steps]


# ---- the report file ------------------------------------------------------------------------
class Report:
    """Append-only JSONL; one flushed line per record."""

    def __init__(self, path: Path | None, resume: bool):
        self.path = Path(path) if path else None
        self.records: list[dict] = []
        self._f = None
        if self.path is None:
            return
        if resume and self.path.exists():
            data = self.path.read_bytes()
            cut = data.rfind(b"\n") + 1
            if cut != len(data):  # the host died mid-line: drop the partial line
                with open(self.path, "r+b") as f:
                    f.truncate(cut)
                data = data[:cut]
            for line in data.splitlines():
                if line.strip():
                    self.records.append(json.loads(line))
            self._f = open(self.path, "a", encoding="utf-8")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = open(self.path, "w", encoding="utf-8")

    def write(self, rec: dict) -> None:
        self.records.append(rec)
        if self._f is not None:
            self._f.write(json.dumps(rec, separators=(",", ":")) + "\n")
            self._f.flush()

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def done_keys(self) -> set[str]:
        return {r["traj"] for r in self.records if r.get("type") == "traj_done"}

    def recorded_steps(self, key: str) -> int:
        """How many leading steps of `key` are recorded (steps are recorded in order)."""
        n = 0
        for r in self.records:
            if r.get("type") == "step" and r.get("traj") == key:
                n = max(n, r["step"] + 1)
        return n


# ---- running ----------------------------------------------------------------------------------
@dataclass
class DeviceSide:
    """Drives one trajectory on the device, mirroring trajectory.Replay step by step."""

    link: DeviceLink
    policy: dict
    now: int = 0
    entries: list[int] = field(default_factory=list)

    def start(self) -> None:
        self.now = 0
        self.entries = []
        self.link.load_policy(self.policy, t_ms=0, fresh=True)

    def step(self, s: Step) -> dict:
        """Runs one step; returns what the device said (check answer fields, µs, rt ms)."""
        L = self.link
        out: dict[str, Any] = {}
        if s.t_ms is not None:
            self.now = int(s.t_ms)
            L.clock(self.now)
        if s.kind == "restart":
            t0 = time.perf_counter()
            L.load_policy(self.policy, t_ms=self.now, fresh=False)
            out["rt_ms"] = round((time.perf_counter() - t0) * 1000, 3)
            return out
        if s.kind == "report":
            k = s.report
            entry = self.entries[k] if 0 <= k < len(self.entries) else -1
            out["entry"] = entry
            if s.ok is not None:
                out["us"] = L.outcome(s.ok == 1, s.result, entry)
            return out
        a: CheckAnswer = L.check(s.call or b"")
        self.entries.append(a.entry)
        out.update(v=a.verdict, h=a.hash, e=a.entry, r=a.rule, us=a.us,
                   rt_ms=round(a.rt_ms, 3))
        if a.verdict == 0 and s.ok is not None:
            out["out_us"] = L.outcome(s.ok == 1, s.result, None)
        return out


def expect_ok(expect: str | None, verdict: int | None) -> bool:
    if verdict is None:
        return False
    if expect == "allow":
        return verdict == 0
    if expect == "block":
        return verdict != 0
    return True


@dataclass
class RunResult:
    interrupted: str | None = None  # the device error that stopped the run
    parity_fail: int = 0
    expect_fail: int = 0
    steps: int = 0


def replay_trajectories(link: DeviceLink, paths: Iterable[Path], report: Report,
                        max_call_bytes: int, progress: Callable[[int], None] | None = None,
                        on_step: Callable[[dict], None] | None = None) -> RunResult:
    """Replays every trajectory not already finished in `report`. Stops at the first device
    timeout / port error (recorded as an "error" record); other device errors count as
    parity failures of their step."""
    res = RunResult()
    done = report.done_keys()
    for path in paths:
        traj = load_trajectory(path)
        if traj.key in done:
            if progress:
                progress(len(traj.steps))
            continue
        if traj.cpython_only:
            report.write({"type": "traj_done", "traj": traj.key, "file": str(path),
                          "name": traj.name, "steps": len(traj.steps), "skipped":
                          "policy uses CPython-only rules (regex/schema)",
                          "parity_fail": 0, "expect_fail": 0})
            if progress:
                progress(len(traj.steps))
            continue
        policy = effective_policy(traj.policy, max_call_bytes)
        ref = cpython_results(traj, policy)
        dev = DeviceSide(link, policy)
        have = report.recorded_steps(traj.key)
        pf = ef = 0
        try:
            dev.start()
            if have == 0:
                report.write({"type": "traj", "traj": traj.key, "file": str(path),
                              "name": traj.name, "steps": len(traj.steps)})
            for s in traj.steps:
                quiet = s.index < have  # already recorded: rebuild the device's history only
                try:
                    d = dev.step(s)
                except DeviceTimeout:
                    raise
                except LinkError as e:
                    d = {"err": str(e)}
                if quiet:
                    continue
                rec = _step_record(traj, s, ref[s.index], d)
                pf += not rec.get("parity", True)
                ef += not rec.get("expect_ok", True)
                report.write(rec)
                res.steps += 1
                if on_step:
                    on_step(rec)
                if progress:
                    progress(1)
        except DeviceTimeout as e:
            report.write({"type": "error", "traj": traj.key, "message": str(e),
                          "at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
            res.interrupted = str(e)
            return res
        # failures of earlier, resumed parts count too
        prior = [r for r in report.records
                 if r.get("type") == "step" and r.get("traj") == traj.key]
        pf = sum(1 for r in prior if not r.get("parity", True))
        ef = sum(1 for r in prior if not r.get("expect_ok", True))
        report.write({"type": "traj_done", "traj": traj.key, "file": str(path), "name": traj.name,
                      "steps": len(traj.steps), "parity_fail": pf, "expect_fail": ef})
        res.parity_fail += pf
        res.expect_fail += ef
    return res


def _step_record(traj: Trajectory, s: Step, ref: dict, d: dict) -> dict:
    rec: dict[str, Any] = {"type": "step", "traj": traj.key, "step": s.index, "kind": s.kind}
    if "err" in d:
        rec["dev_err"] = d["err"]
    if s.kind == "call":
        cpy = {"v": ref["verdict"], "h": ref["hash"], "e": ref["entry"], "r": ref.get("rule", -1)}
        rec["expect"] = s.expect
        rec["cpy"] = cpy
        if "v" in d:
            rec["dev"] = {"v": d["v"], "h": d["h"], "e": d["e"], "r": d["r"]}
            rec["us"] = d["us"]
            rec["rt_ms"] = d["rt_ms"]
            if "out_us" in d:
                rec["out_us"] = d["out_us"]
        parity = rec.get("dev") == cpy
        rec["parity"] = parity
        dv = rec["dev"]["v"] if "dev" in rec else None
        rec["expect_ok"] = expect_ok(s.expect, dv) and expect_ok(s.expect, cpy["v"])
    else:
        for k in ("us", "rt_ms", "entry"):
            if k in d:
                rec[k] = d[k]
        if s.kind == "report":
            rec["parity"] = "err" not in d and d.get("entry") == ref.get("entry")
        else:
            rec["parity"] = "err" not in d
        rec["expect_ok"] = True  # only call steps carry an expectation
    return rec


# ---- summaries ---------------------------------------------------------------------------------
def percentile(xs: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0 for no samples."""
    if not xs:
        return 0.0
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(-(-q * len(s) // 100)) - 1))
    return float(s[k])


@dataclass
class TrajSummary:
    key: str
    name: str
    steps: int
    calls: int
    blocks: int
    parity_fail: int
    expect_fail: int
    us: list[int]
    rt: list[float]
    skipped: str | None = None
    complete: bool = False


def summarize(records: list[dict]) -> list[TrajSummary]:
    by: dict[str, TrajSummary] = {}
    order: list[str] = []
    for r in records:
        t = r.get("type")
        if t not in ("traj", "step", "traj_done"):
            continue
        k = r["traj"]
        if k not in by:
            by[k] = TrajSummary(k, r.get("name", k), r.get("steps", 0), 0, 0, 0, 0, [], [])
            order.append(k)
        s = by[k]
        if t == "traj":
            s.steps = r["steps"]
            s.name = r.get("name", k)
        elif t == "traj_done":
            s.complete = True
            s.skipped = r.get("skipped")
            s.steps = r.get("steps", s.steps)
        else:
            if r.get("kind") == "call":
                s.calls += 1
                if r.get("dev", {}).get("v"):
                    s.blocks += 1
                if "us" in r:
                    s.us.append(r["us"])
                if "rt_ms" in r:
                    s.rt.append(r["rt_ms"])
            s.parity_fail += not r.get("parity", True)
            s.expect_fail += not r.get("expect_ok", True)
    return [by[k] for k in order]


def table_rows(sums: list[TrajSummary]) -> list[list[str]]:
    rows = []
    all_us: list[int] = []
    all_rt: list[float] = []
    for s in sums:
        all_us += s.us
        all_rt += s.rt
        if s.skipped:
            parity = "skipped"
        elif not s.complete:
            parity = "INCOMPLETE"
        else:
            parity = "ok" if s.parity_fail == 0 else f"{s.parity_fail} DIFF"
        rows.append([s.key, str(s.steps), str(s.calls), str(s.blocks), parity,
                     str(s.expect_fail) if not s.skipped else "-",
                     _f(percentile(s.us, 50)), _f(percentile(s.us, 99)),
                     _f(max(s.us) if s.us else 0), f"{percentile(s.rt, 50):.2f}",
                     f"{percentile(s.rt, 99):.2f}"])
    pf = sum(s.parity_fail for s in sums)
    ef = sum(s.expect_fail for s in sums)
    rows.append(["TOTAL", str(sum(s.steps for s in sums)), str(sum(s.calls for s in sums)),
                 str(sum(s.blocks for s in sums)), "ok" if pf == 0 else f"{pf} DIFF", str(ef),
                 _f(percentile(all_us, 50)), _f(percentile(all_us, 99)),
                 _f(max(all_us) if all_us else 0), f"{percentile(all_rt, 50):.2f}",
                 f"{percentile(all_rt, 99):.2f}"])
    return rows


HEADERS = ["trajectory", "steps", "calls", "blocked", "parity", "expect miss", "dev µs p50",
           "p99", "max", "rt ms p50", "p99"]


def _f(x: float) -> str:
    return str(int(round(x)))


def print_table(sums: list[TrajSummary], title: str, file=None) -> None:
    rows = table_rows(sums)
    try:
        from rich.console import Console
        from rich.table import Table

        t = Table(title=title)
        name_w = max(len(r[0]) for r in rows)
        for i, h in enumerate(HEADERS):
            if i == 0:
                t.add_column(h, justify="left", no_wrap=True, min_width=name_w)
            else:
                t.add_column(h, justify="right", no_wrap=True)
        for r in rows[:-1]:
            t.add_row(*r)
        t.add_section()
        t.add_row(*rows[-1])
        # never truncate a trajectory name: wider than the terminal if need be
        Console(file=file or sys.stdout, width=max(_term_width(), 100 + name_w)).print(t)
    except ImportError:  # plain text fallback
        out = file or sys.stdout
        print(title, file=out)
        w = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADERS)]
        for r in [HEADERS] + rows:
            print("  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(r)),
                  file=out)


def _term_width() -> int:
    try:
        return os.get_terminal_size().columns
    except OSError:
        return 120


def plot(sums: list[TrajSummary], path: Path, title: str) -> None:
    """One histogram of on-device check µs per trajectory."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sums = [s for s in sums if s.us]
    n = max(1, len(sums))
    cols = min(6, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for i, s in enumerate(sums):
        ax = axes[i // cols][i % cols]
        ax.hist(s.us, bins=min(30, max(5, len(s.us) // 2)), color="#3a7ca5")
        ax.set_title(s.key[:32], fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_xlabel("check µs (device)", fontsize=6)
    for j in range(len(sums), rows * cols):
        axes[j // cols][j % cols].axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_header(board: str, port: str, link: DeviceLink, resumed: bool) -> dict:
    h = link.hello
    return {"type": "run", "version": REPORT_VERSION, "board": board, "port": port,
            "resumed": resumed,
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "fw": h.fw if h else None, "impl": h.impl if h else None,
            "platform": h.platform if h else None, "buf": h.buf if h else None}
