# microloop_host.audit -- `microloop audit`: run one or more policies over an agent's own
# past logs (six formats, detected from the content), replay every tool call and its
# observation through the guard, and report per run and across runs where the guard would
# have stopped the agent. One module per job: model (runs and steps), readers/ (one reader
# per log format, plus detection), replay (the guard over a run), report (text and JSON
# Lines), export (trajectory JSONL for `microloop replay`), plot (matplotlib, lazily), cli.
from microloop_host.audit.model import Call, LogError, Report, Restart, Run
from microloop_host.audit.readers import FORMATS, detect, read_runs
from microloop_host.audit.replay import PolicySpec, RunResult, audit_run, load_policies

__all__ = [
    "FORMATS",
    "Call",
    "LogError",
    "PolicySpec",
    "Report",
    "Restart",
    "Run",
    "RunResult",
    "audit_run",
    "detect",
    "load_policies",
    "read_runs",
]
