# microloop_host.audit.readers.openhands -- OpenHands event histories: JSON Lines with one
# run a line ({"instance_id", "history": [events], ...}, the evaluation output.jsonl), one
# object with a "history", a JSON array of events, or JSON Lines of single events.
# Both event layouts are read:
# - V0 (OpenHands <= 0.x): an action {"id", "source": "agent", "action": "run", "args": {...}}
#   is the model's own tool call when the event carries it (tool_call_metadata: the function
#   name and the argument text of the tool call with that id), else the tool `action` with
#   its args minus the bookkeeping keys (thought, security_risk, confirmation_state, hidden,
#   ...); non-tool actions (message, think, finish, system, recall, agent_state_changed, ...)
#   are not calls. Older flat events (args beside "action", no ids) and [action, observation]
#   pairs are read too. An observation answers the action its "cause" names (without one:
#   the latest call): result = its content (plus "[exit code N]" when known).
#   ok=False: an "error" or "user_rejected" observation, or exit code -1 (timed out / still
#   running).
# - V1 (the software-agent SDK, events with "kind"): ActionEvent = tool `tool_name` with its
#   `action` fields (minus "kind"); ObservationEvent answers the same `tool_call_id`.
#   ok=False: AgentErrorEvent, UserRejectObservation, observation "timeout": true or exit
#   code -1.
# Event timestamps give the guard's clock (for per_s budgets).
from __future__ import annotations

from datetime import datetime
from typing import Any

from microloop_host.audit.model import Call, Run, call_of, call_of_text, text_bytes
from microloop_host.audit.readers._source import Source

NOT_TOOLS = frozenset({
    "message", "system", "think", "finish", "recall", "agent_state_changed",
    "change_agent_state", "null", "condensation", "condensation_request", "reject",
    "pause", "resume", "stop", "start",
})
BOOKKEEPING = frozenset({
    "thought", "reasoning_content", "security_risk", "confirmation_state", "hidden",
    "is_confirmed", "impl_source", "blocking", "kind", "summary",
})
FAILED_OBS = frozenset({"error", "user_rejected"})
# older flat events carry their args beside these keys
FLAT_EVENT_KEYS = BOOKKEEPING | {"action", "id", "source", "timestamp", "message", "cause",
                                 "timeout", "tool_call_metadata", "llm_metrics", "keep_prompt",
                                 "action_risk", "is_confirmed", "kernel_init_code"}


def _ts(e: dict[str, Any]) -> float | None:
    t = e.get("timestamp")
    if isinstance(t, str):
        try:
            return datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    if isinstance(t, (int, float)) and not isinstance(t, bool):
        return float(t)
    return None


def _model_call(e: dict[str, Any]) -> tuple[str, Any] | None:
    """(function name, argument text) of the model's tool call behind a V0 action, from its
    tool_call_metadata; None when the event does not carry it."""
    meta = e.get("tool_call_metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("function_name"), str):
        return None
    try:
        calls = meta["model_response"]["choices"][0]["message"]["tool_calls"]
    except (KeyError, IndexError, TypeError):
        return None
    for tc in calls if isinstance(calls, list) else []:
        if isinstance(tc, dict) and tc.get("id") == meta.get("tool_call_id"):
            fn = tc.get("function") if isinstance(tc.get("function"), dict) else {}
            return meta["function_name"], fn.get("arguments")
    return None


def _exit_code(d: dict[str, Any]) -> int | None:
    for holder in (d, d.get("metadata") if isinstance(d.get("metadata"), dict) else {}):
        code = holder.get("exit_code")
        if type(code) is int:
            return code
    return None


class _History:
    def __init__(self, run: Run, src: Source) -> None:
        self.run = run
        self.src = src
        self.pending: dict[Any, int] = {}
        self.t0: float | None = None
        self.last: int | None = None  # the latest call: what an observation without cause answers

    def _t_ms(self, e: dict[str, Any]) -> int | None:
        t = _ts(e)
        if t is None:
            return None
        self.t0 = t if self.t0 is None else self.t0
        return int(round((t - self.t0) * 1000))

    def _call(self, key: Any, tool: str, call: bytes, line: int, e: dict[str, Any]) -> None:
        k = self.run.add_call(Call(tool, call, line=line, t_ms=self._t_ms(e)))
        self.last = k
        if key is not None:
            self.pending[key] = k

    def _answer(self, key: Any, ok: bool, text: bytes, line: int) -> None:
        k = self.pending.pop(key, None) if key is not None else self.last
        if k is not None:
            self.run.report(k, ok, text, line)
            if k == self.last:
                self.last = None

    def event(self, e: Any, line: int, where: str) -> None:
        if isinstance(e, list) and len(e) == 2 and all(isinstance(x, dict) for x in e):
            for j, x in enumerate(e):  # the older [action, observation] pairs
                self.event(x, line, f"{where}[{j}]")
            return
        if not isinstance(e, dict):
            raise self.src.error(line or None, "an event must be a JSON object", where)
        kind = e.get("kind")
        if isinstance(kind, str):
            self._v1(e, kind, line, where)
        elif isinstance(e.get("action"), str):
            self._v0_action(e, line, where)
        elif isinstance(e.get("observation"), str):
            self._v0_observation(e, line)

    def _v0_action(self, e: dict[str, Any], line: int, where: str) -> None:
        name = e["action"]
        if name in NOT_TOOLS or e.get("source") == "user":
            return
        if "args" in e:
            args = e["args"]
            if not isinstance(args, dict):
                raise self.src.error(line or None, "args must be an object", where + ".args")
        else:  # the older flat events: the args are the event's other keys
            args = {k: v for k, v in e.items() if k not in FLAT_EVENT_KEYS}
        model = _model_call(e)
        if model is not None:  # the call as the model made it
            self._call(e.get("id"), model[0], call_of_text(*model), line, e)
            return
        args = {k: v for k, v in args.items() if k not in BOOKKEEPING}
        self._call(e.get("id"), name, call_of(name, args), line, e)

    def _key(self, e: dict[str, Any]) -> Any:
        return e["id"] if "id" in e else ("#", self.run.n_calls)

    def _v0_observation(self, e: dict[str, Any], line: int) -> None:
        extras = e.get("extras") if isinstance(e.get("extras"), dict) else e
        code = _exit_code(extras)
        text = text_bytes(e.get("content"))
        if code is not None:
            text += b"\n[exit code %d]" % code
        ok = e["observation"] not in FAILED_OBS and code != -1
        self._answer(e.get("cause"), ok, text, line)

    def _v1(self, e: dict[str, Any], kind: str, line: int, where: str) -> None:
        if kind == "ActionEvent":
            name = e.get("tool_name")
            if not isinstance(name, str):
                raise self.src.error(line or None, "tool_name must be a string", where)
            action = e.get("action")
            if isinstance(action, dict):
                call = call_of(name, {k: v for k, v in action.items() if k not in BOOKKEEPING})
            else:
                tc = e.get("tool_call") if isinstance(e.get("tool_call"), dict) else {}
                call = call_of_text(name, tc.get("arguments"))
            self._call(e.get("tool_call_id"), name, call, line, e)
        elif kind == "ObservationEvent":
            obs = e.get("observation") if isinstance(e.get("observation"), dict) else {}
            code = _exit_code(obs)
            text = text_bytes(obs.get("content"))
            if code is not None:
                text += b"\n[exit code %d]" % code
            ok = obs.get("timeout") is not True and code != -1
            self._answer(e.get("tool_call_id"), ok, text, line)
        elif kind == "AgentErrorEvent":
            self._answer(e.get("tool_call_id"), False, text_bytes(e.get("error")), line)
        elif kind == "UserRejectObservation":
            self._answer(e.get("tool_call_id"), False, text_bytes(e.get("rejection_reason")),
                         line)


def _label(base: str, obj: dict[str, Any]) -> str:
    iid = obj.get("instance_id")
    return base + (f" ({iid})" if isinstance(iid, (str, int)) else "")


def _history_run(src: Source, obj: dict[str, Any], name: str, line: int) -> Run:
    hist = obj.get("history")
    if not isinstance(hist, list):
        raise src.error(line or None, "history must be a list of events", "history")
    run = Run(src.path, name, "openhands")
    h = _History(run, src)
    for i, e in enumerate(hist):
        h.event(e, line, f"history[{i}]")
    return run


def read(src: Source) -> list[Run]:
    """The runs of an OpenHands log (see the module comment for the shapes)."""
    base = src.path
    if src.is_document():
        doc = src.document()
        if isinstance(doc, dict) and "history" in doc:
            return [_history_run(src, doc, _label(base, doc), 0)]
        if isinstance(doc, list):
            run = Run(src.path, base, "openhands")
            h = _History(run, src)
            for i, e in enumerate(doc):
                h.event(e, 0, f"[{i}]")
            return [run]
        if isinstance(doc, dict):  # a single event
            run = Run(src.path, base, "openhands")
            _History(run, src).event(doc, 1, "")
            return [run]
        raise src.error(None, "an OpenHands log is a JSON object with a history, or events")
    runs: list[Run] = []
    single: _History | None = None
    for n, v in src.lines():
        if isinstance(v, dict) and "history" in v:
            runs.append(_history_run(src, v, _label(f"{base}:{n}", v), n))
        else:
            if single is None:
                single = _History(Run(src.path, base, "openhands"), src)
                runs.append(single.run)
            single.event(v, n, "")
    return runs


__all__ = ["read"]
