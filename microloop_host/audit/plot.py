# microloop_host.audit.plot -- the audit as a picture (matplotlib, imported only here): per
# run, where the blocks fell (a row per run that any policy blocked, a tick per blocked step,
# a dot at the first block, one colour per policy), and per detector how often it fired.
from __future__ import annotations

from collections import Counter
from pathlib import Path

from microloop_host.audit.model import Run
from microloop_host.audit.replay import RunResult, code_names

MAX_ROWS = 40


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


def plot(per_run: list[list[RunResult]], policies: list[str], path: Path) -> int:
    """Writes the PNG; returns how many runs it shows (rows)."""
    try:
        import matplotlib
    except ImportError:
        raise PlotUnavailable('microloop audit --plot needs: pip install "microloop-mpy[harness]"'
                              ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = code_names()
    hit = [rs for rs in per_run if any(r.first_block is not None for r in rs)]
    shown = hit[:MAX_ROWS]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    rows = max(len(shown), 1)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, max(3.5, 0.32 * rows + 1.8)),
                                 gridspec_kw={"width_ratios": [3, 1.3]})
    k = len(policies)
    for y, rs in enumerate(reversed(shown)):
        steps = rs[0].steps
        ax.hlines(y, 0, max(steps - 1, 0), color="0.8", lw=6, zorder=1)
        for j, r in enumerate(rs):
            dy = (j - (k - 1) / 2) * (0.6 / max(k, 1))
            b = r.blocked_steps
            if b:
                ax.scatter(b, [y + dy] * len(b), marker="|", s=40, color=colours[j % 10], zorder=2)
                ax.scatter([b[0]], [y + dy], marker="o", s=30, color=colours[j % 10], zorder=3)
    for j, p in enumerate(policies):
        ax.scatter([], [], marker="o", color=colours[j % 10],
                   label=f"{p}: first block (| = blocked)")
    ax.set_yticks(range(len(shown)))
    ax.set_yticklabels([_short(rs[0].run) for rs in reversed(shown)], fontsize=7)
    ax.set_xlabel("step (tool call) index; grey = the run as recorded")
    more = f", first {MAX_ROWS} shown" if len(hit) > MAX_ROWS else ""
    ax.set_title(f"where the blocks fell: {len(hit)} of {len(per_run)} runs blocked{more}",
                 fontsize=10)
    if not shown:
        ax.text(0.5, 0.5, "no run was blocked", ha="center", va="center", transform=ax.transAxes)
    ax.legend(fontsize=7, loc="lower right")
    counts = []
    for j in range(k):
        c: Counter[str] = Counter()
        for rs in per_run:
            r = rs[j]
            for i in r.blocked_steps:
                c[names.get(r.verdicts[i], str(r.verdicts[i]))] += 1
        counts.append(c)
    dets = sorted(set().union(*counts), key=lambda d: sum(c[d] for c in counts))
    h = 0.8 / max(k, 1)
    for j, c in enumerate(counts):
        ys = [i + (j - (k - 1) / 2) * h for i in range(len(dets))]
        bx.barh(ys, [c[d] for d in dets], height=h, color=colours[j % 10], label=policies[j])
    bx.set_yticks(range(len(dets)))
    bx.set_yticklabels(dets, fontsize=8)
    bx.set_xlabel("blocked steps (upper bound)")
    bx.set_title("how often each detector fired", fontsize=10)
    if not dets:
        bx.text(0.5, 0.5, "none", ha="center", va="center", transform=bx.transAxes)
    else:
        bx.legend(fontsize=7)
    steps = sum(rs[0].steps for rs in per_run)
    fig.suptitle(f"microloop audit: {len(per_run)} runs, {steps} steps; policies "
                 f"{', '.join(policies)} (runs replayed as recorded: counts after a first "
                 f"block are upper bounds)", fontsize=10)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return len(shown)


def _short(run: Run, n: int = 40) -> str:
    """A row label: the file's name (not its directories), plus the run's line or id."""
    name = run.name
    if name.startswith(run.path):
        name = Path(run.path).name + name[len(run.path):]
    return name if len(name) <= n else name[: n - 1] + "…"
