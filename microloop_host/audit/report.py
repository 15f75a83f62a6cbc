# microloop_host.audit.report -- what the audit prints: per run, each policy's first block
# with the calls around it, blocked steps and steps saved; a summary across runs with the
# policies side by side; or JSON Lines (one object per run) for machines.
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any, TextIO

from microloop_host.audit.model import Call, Run, clip
from microloop_host.audit.replay import RunResult, code_names

UPPER_BOUND_NOTE = ("Runs are replayed as recorded: after a block the log goes on as it "
                    "happened, so blocked steps and steps saved after a run's first block "
                    "are upper bounds.")


def detector(r: RunResult, i: int, names: dict[int, str]) -> str:
    """The detector or rule that blocked call i: IDENTICAL, REPEAT, ..., RULE_BLOCK #3."""
    v = r.verdicts[i]
    name = names.get(v, str(v))
    if i in r.rules and r.rules[i] >= 0:
        name += f" #{r.rules[i]}"
    return name


def _outcome_text(c: Call) -> str:
    if c.ok is None:
        return ""
    return (" -> ok: " if c.ok else " -> FAILED: ") + clip(c.result, 50)


def call_text(c: Call) -> str:
    """`tool {args}` for a human: the call's args as compact JSON, or its raw text."""
    try:
        obj = json.loads(c.call)
        if isinstance(obj, dict) and set(obj) <= {"tool", "args", "id"}:
            return f"{obj.get('tool')} {json.dumps(obj.get('args', {}), ensure_ascii=False)}"
    except (ValueError, RecursionError):
        pass
    return c.call.decode("utf-8", "replace")


def _call_line(c: Call, i: int, mark: str, verdict: str) -> str:
    return f"    {mark}{i:>5}  {clip(call_text(c), 80)}{_outcome_text(c)}{verdict}"


def run_text(results: list[RunResult], context: int, out: Callable[[str], None]) -> None:
    """One run's block under every policy (results: one per policy, same run)."""
    from microloop_mpy import codes

    names = code_names()
    run = results[0].run
    out(f"{run.name}  [{run.fmt}, {results[0].steps} steps]")
    width = max(len(r.policy) for r in results)
    calls: list[Call] | None = None
    for r in results:
        fb = r.first_block
        if fb is None:
            out(f"  {r.policy:<{width}}  no block")
            continue
        v = r.verdicts[fb]
        out(f"  {r.policy:<{width}}  first block at step {fb}: {detector(r, fb, names)} "
            f"({codes.reason(v)}); {r.blocked} blocked, {r.saved} saved (upper bounds)")
        if context < 0:
            continue
        calls = calls if calls is not None else run.calls()
        for i in range(max(0, fb - context), min(r.steps, fb + context + 1)):
            mark = ">" if i == fb else " "
            verdict = f"   [BLOCKED {detector(r, i, names)}]" if r.verdicts[i] else ""
            out(_call_line(calls[i], i, mark, verdict))


def summary_text(per_run: list[list[RunResult]], policies: list[str], files: int,
                 seconds: float, out: Callable[[str], None]) -> None:
    """The table across runs, one column per policy."""
    names = code_names()
    runs = len(per_run)
    steps = sum(rs[0].steps for rs in per_run) if per_run else 0
    out(f"summary: {files} file{'s' * (files != 1)}, {runs} run{'s' * (runs != 1)}, "
        f"{steps} steps" + (f", audited in {seconds:.2f} s ({steps * len(policies) / seconds:,.0f} "
                            f"steps/s)" if seconds > 0 and steps else ""))
    rows: list[tuple[str, list[str]]] = []
    stopped = [sum(1 for rs in per_run if rs[j].first_block is not None)
               for j in range(len(policies))]
    rows.append(("runs stopped", [f"{s} / {runs}" for s in stopped]))
    rows.append(("blocked steps (upper bound)",
                 [str(sum(rs[j].blocked for rs in per_run)) for j in range(len(policies))]))
    rows.append(("steps saved (upper bound)",
                 [str(sum(rs[j].saved for rs in per_run)) for j in range(len(policies))]))
    first: list[Counter[str]] = []
    every: list[Counter[str]] = []
    for j in range(len(policies)):
        f: Counter[str] = Counter()
        e: Counter[str] = Counter()
        for rs in per_run:
            r = rs[j]
            fb = r.first_block
            if fb is not None:
                f[detector(r, fb, names).split(" #")[0]] += 1
            for i in r.blocked_steps:
                e[detector(r, i, names).split(" #")[0]] += 1
        first.append(f)
        every.append(e)
    for title, counters in (("first blocks by detector", first),
                            ("blocked steps by detector", every)):
        keys = sorted(set().union(*counters), key=lambda k: -sum(c[k] for c in counters))
        if keys:
            rows.append((title + ":", ["" for _ in policies]))
            rows += [(f"  {k}", [str(c[k]) for c in counters]) for k in keys]
    w0 = max(len(r[0]) for r in rows)
    ws = [max(len(p), *(len(r[1][j]) for r in rows)) for j, p in enumerate(policies)]
    out(" " * w0 + "  " + "  ".join(f"{p:>{ws[j]}}" for j, p in enumerate(policies)))
    for label, cells in rows:
        out(f"{label:<{w0}}  " + "  ".join(f"{c:>{ws[j]}}" for j, c in enumerate(cells)))
    out(UPPER_BOUND_NOTE)


def policy_json(r: RunResult) -> dict[str, Any]:
    names = code_names()
    fb = r.first_block
    d: dict[str, Any] = {
        "policy": r.policy,
        "blocked": r.blocked,
        "first_block": fb,
        "detector": None,
        "rule_index": None,
        "saved": r.saved,
        "blocked_steps": r.blocked_steps,
        "by_detector": dict(Counter(detector(r, i, names).split(" #")[0]
                                    for i in r.blocked_steps)),
    }
    if fb is not None:
        d["detector"] = names.get(r.verdicts[fb], str(r.verdicts[fb]))
        d["rule_index"] = r.rules.get(fb)
    return d


def run_json(results: list[RunResult]) -> dict[str, Any]:
    """One JSON object for one run: the first policy's numbers at the top level, every
    policy's in "policies" (same keys). blocked/saved after first_block are upper bounds."""
    run: Run = results[0].run
    per = [policy_json(r) for r in results]
    return {"file": run.path, "run": run.name, "format": run.fmt, "steps": results[0].steps,
            **per[0], "upper_bound": True, "policies": per}


def write_json(results: list[RunResult], f: TextIO) -> None:
    f.write(json.dumps(run_json(results), ensure_ascii=False) + "\n")
