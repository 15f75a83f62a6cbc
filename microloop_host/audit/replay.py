# microloop_host.audit.replay -- one run through one policy: a fresh Guard (the CPython core,
# its fast path included), every call checked in order, every outcome reported as the log
# recorded it. A run is replayed as recorded: after a block the log goes on as it happened
# (the agent's reaction to a block is unknown), so counts after the first block are upper
# bounds. Never decides anything itself: verdicts are the core's.
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from microloop_host.audit.model import Call, Report, Run
from microloop_host.policy import PRESETS, load_policy

RULE_CODES = frozenset({7, 8, 9})  # RULE_BLOCK, BUDGET_EXHAUSTED, SCHEMA_INVALID


def code_names() -> dict[int, str]:
    """Verdict code -> its constant's name in microloop_mpy.codes (IDENTICAL, REPEAT, ...)."""
    from microloop_mpy import codes

    return {getattr(codes, n): n for n in dir(codes)
            if n.isupper() and type(getattr(codes, n)) is int}


@dataclass
class PolicySpec:
    """A policy as given on the command line: its label and the dict the Guard gets."""

    label: str
    policy: dict[str, Any] | None


def load_policies(specs: list[str]) -> list[PolicySpec]:
    """Preset names or JSON files -> PolicySpecs, each validated by the core (ValueError).
    A policy's state_path is dropped: an audit never writes a state file."""
    from microloop_mpy import Guard

    out: list[PolicySpec] = []
    seen: set[str] = set()
    for spec in specs or ["default"]:
        policy = load_policy(spec)
        if isinstance(policy, dict):
            policy.pop("state_path", None)
        label = spec if spec in PRESETS else Path(spec).stem
        while label in seen:
            label += "'"
        seen.add(label)
        try:
            Guard(policy)
        except ValueError as e:
            raise ValueError(f"policy {spec}: {e}") from None
        out.append(PolicySpec(label, policy))
    return out


@dataclass
class RunResult:
    """What one policy said about every call of one run."""

    run: Run
    policy: str
    verdicts: list[int]
    rules: dict[int, int] = field(default_factory=dict)  # call index -> rule index (rules)

    @property
    def steps(self) -> int:
        return len(self.verdicts)

    @property
    def blocked_steps(self) -> list[int]:
        return [i for i, v in enumerate(self.verdicts) if v]

    @property
    def blocked(self) -> int:
        return sum(1 for v in self.verdicts if v)

    @property
    def first_block(self) -> int | None:
        for i, v in enumerate(self.verdicts):
            if v:
                return i
        return None

    @property
    def saved(self) -> int:
        """Steps from the first block to the end: what stopping there would have saved."""
        fb = self.first_block
        return 0 if fb is None else self.steps - fb

    def by_code(self) -> Counter[int]:
        return Counter(v for v in self.verdicts if v)


def audit_run(run: Run, spec: PolicySpec) -> RunResult:
    """Replay `run` through a fresh Guard with `spec`'s policy."""
    from microloop_mpy import Guard

    now = [0]

    def clock() -> int:
        return now[0]

    g = Guard(spec.policy, clock=clock)
    check, outcome, last_entry = g.check, g.outcome, g.last_entry
    verdicts: list[int] = []
    entries: list[int] = []
    rules: dict[int, int] = {}
    for ev in run.events:
        t = type(ev)
        if t is Call:
            if ev.t_ms is not None:
                now[0] = ev.t_ms
            v = check(ev.call)
            entries.append(last_entry())
            verdicts.append(v)
            if v:
                if v in RULE_CODES:
                    rules[len(verdicts) - 1] = g.rule_index()
            elif ev.ok is not None:
                r = ev.result
                outcome(ev.ok, r, 0, len(r))
        elif t is Report:
            if 0 <= ev.index < len(entries):
                r = ev.result
                outcome(ev.ok, r, 0, len(r), entries[ev.index])
        else:  # Restart
            g = Guard(spec.policy, clock=clock)
            check, outcome, last_entry = g.check, g.outcome, g.last_entry
    return RunResult(run, spec.label, verdicts, rules)
