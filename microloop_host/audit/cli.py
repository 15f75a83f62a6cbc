# microloop_host.audit.cli -- `microloop audit [--policy P ...] LOG...`: read agent logs,
# replay them through one or more policies, print per run and a summary (or JSON Lines),
# optionally export trajectories and draw a plot. Exit status: 0 audited (blocks or not),
# 2 bad usage, a bad policy or an unreadable log (one line on stderr naming file and line).
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from microloop_host.audit.model import LogError, Run

LOG_SUFFIXES = (".json", ".jsonl", ".traj", ".log")


def build_parser() -> argparse.ArgumentParser:
    from microloop_host.audit.readers import FORMATS

    p = argparse.ArgumentParser(
        prog="microloop audit",
        description="Replay an agent's own past logs through the guard: where would each "
                    "policy have stopped each run? Formats are detected from the content.")
    p.add_argument("logs", nargs="+", type=Path, metavar="LOG",
                   help="log files, or directories (their *.json, *.jsonl, *.traj, *.log files, "
                        "recursively)")
    p.add_argument("--policy", action="append", metavar="FILE|PRESET",
                   help="a preset (strict, default, lenient) or a policy JSON file; repeat to "
                        "compare policies side by side (default: default)")
    p.add_argument("--format", choices=list(FORMATS), help="force the log format")
    p.add_argument("--json", action="store_true",
                   help="JSON Lines on stdout: one object per run (file, run, steps, blocked, "
                        "first_block, ...)")
    p.add_argument("--export", type=Path, metavar="DIR",
                   help="write every run as trajectory JSONL (first policy) for "
                        "`microloop replay --board B DIR`")
    p.add_argument("--plot", type=Path, metavar="FILE.png",
                   help="per run where the blocks fell, per detector how often it fired")
    p.add_argument("--context", type=int, default=2, metavar="N",
                   help="calls shown before and after a first block (default 2; -1: none)")
    p.add_argument("--only-blocked", action="store_true",
                   help="print only runs that some policy blocked")
    p.add_argument("--skip-bad", action="store_true",
                   help="report an unreadable log on stderr and go on with the others")
    return p


def expand(paths: list[Path]) -> list[Path]:
    """Files as given; directories as their log files, sorted."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in LOG_SUFFIXES)
        else:
            out.append(p)
    return out


def _read(path: Path, fmt: str | None) -> list[Run]:
    from microloop_host.audit.readers import read_runs

    try:
        return read_runs(path, fmt)
    except LogError:
        raise
    except Exception as e:  # a reader meeting a shape it does not know: still one line
        raise LogError(str(path), None, f"cannot read as {fmt or 'its format'}: "
                       f"{type(e).__name__}: {e}") from None


def main(argv: list[str] | None = None) -> int:
    """The `microloop audit` command."""
    try:
        return _main(argv)
    except BrokenPipeError:  # `| head`: stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from microloop_host.audit import export as ex
    from microloop_host.audit import report
    from microloop_host.audit.replay import audit_run, load_policies

    err = lambda msg: print(f"microloop audit: {msg}", file=sys.stderr)  # noqa: E731
    try:
        specs = load_policies(args.policy or ["default"])
    except ValueError as e:
        err(str(e))
        return 2
    files = expand(args.logs)
    if not files:
        err("no log files found in " + ", ".join(map(str, args.logs)))
        return 2
    t0 = time.perf_counter()
    runs: list[Run] = []
    bad = 0
    for f in files:
        try:
            runs += _read(f, args.format)
        except LogError as e:
            err(str(e))
            if not args.skip_bad:
                return 2
            bad += 1
    t_read = time.perf_counter() - t0
    t1 = time.perf_counter()
    per_run = [[audit_run(run, s) for s in specs] for run in runs]
    t_audit = time.perf_counter() - t1
    labels = [s.label for s in specs]
    out = print
    info = (lambda m: print(m, file=sys.stderr)) if args.json else print
    if args.json:
        for rs in per_run:
            report.write_json(rs, sys.stdout)
    else:
        for rs in per_run:
            if args.only_blocked and all(r.first_block is None for r in rs):
                continue
            report.run_text(rs, args.context, out)
        if per_run:
            out("")
        report.summary_text(per_run, labels, len(files) - bad, t_audit, out)
        out(f"read {len(files) - bad} file(s) in {t_read:.2f} s"
            + (f"; {bad} unreadable (skipped)" if bad else ""))
    if args.export:
        paths = ex.export([rs[0] for rs in per_run], args.export, specs[0].policy)
        info(f"exported {len(paths)} trajectories (policy {labels[0]}) to {args.export}: "
             f"microloop replay --board unix {args.export}")
    if args.plot:
        from microloop_host.audit.plot import PlotUnavailable, plot

        try:
            plot(per_run, labels, args.plot)
        except PlotUnavailable as e:
            print(str(e), file=sys.stderr)
            return 2
        info(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
