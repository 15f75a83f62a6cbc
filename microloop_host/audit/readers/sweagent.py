# microloop_host.audit.readers.sweagent -- SWE-agent `.traj` files: {"trajectory": [{"action",
# "observation", ...}], ...} (or only a "history" of messages whose assistant ones carry an
# "action", answered by the next tool/user message), one run a file. An action whose first
# word is one of SWE-agent's special commands (open, goto, scroll_down, edit,
# str_replace_editor, submit, ...) is that tool with {"args": the rest of the action};
# anything else is `bash` with {"command": the action}. ok=False when the observation says
# the command did not finish or did not run: SWE-agent's timeout messages ("EXECUTION TIMED
# OUT", "... was cancelled because it took more than N seconds") and its "syntax errors and
# was NOT executed" message. An empty action
# (an exit status) is not a call; a missing observation reports nothing.
from __future__ import annotations

from microloop_host.audit.model import Call, Run, call_of, text_bytes
from microloop_host.audit.readers._source import Source

SPECIAL = frozenset({
    "open", "goto", "scroll_up", "scroll_down", "create", "edit", "insert", "append",
    "search_dir", "search_file", "find_file", "filemap", "str_replace_editor", "submit",
    "skip", "exit_forfeit", "exit_cost", "exit_context", "exit_error", "exit_format",
    "decompile", "disassemble", "debug_start", "debug_add_breakpoint", "debug_continue",
    "debug_step", "debug_exec", "debug_stop", "connect_start", "connect_sendline",
    "connect_exec", "connect_stop",
})
FAILED = ("EXECUTION TIMED OUT", "was cancelled because it took more than",
          "syntax errors and was NOT executed")


def tool_call(action: str) -> tuple[str, bytes]:
    """(tool name, call bytes) for one SWE-agent action string."""
    text = action.strip()
    head = text.split(None, 1)[0] if text else ""
    if head in SPECIAL:
        return head, call_of(head, {"args": text[len(head):].strip()})
    return "bash", call_of("bash", {"command": text})


def _steps_of_history(src: Source, history: list) -> list[dict]:
    """{action, observation} steps from a .traj's message history (some demonstrations have
    only that): an assistant message with an "action", then the next tool or user message."""
    steps: list[dict] = []
    for i, m in enumerate(history):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise src.error(None, "a message must be an object with a string role",
                            f"history[{i}]")
        if m["role"] == "assistant" and m.get("action") is not None:
            steps.append({"action": m["action"], "observation": None})
        elif m["role"] in ("tool", "user") and steps and steps[-1]["observation"] is None \
                and m.get("message_type", "observation") == "observation":
            steps[-1]["observation"] = m.get("content")
    return steps


def failed(observation: str) -> bool:
    """True when an observation says the command timed out or did not run."""
    return any(p in observation for p in FAILED)


def read(src: Source) -> list[Run]:
    """One run: the file's trajectory steps with a non-empty action."""
    doc = src.document()
    traj = doc.get("trajectory") if isinstance(doc, dict) else None
    if traj is None and isinstance(doc, dict) and isinstance(doc.get("history"), list):
        traj = _steps_of_history(src, doc["history"])
    if not isinstance(traj, list):
        raise src.error(None, 'a SWE-agent .traj file is a JSON object with a "trajectory" list')
    run = Run(src.path, src.path, "swe-agent")
    for i, step in enumerate(traj):
        where = f"trajectory[{i}]"
        if not isinstance(step, dict):
            raise src.error(None, "a trajectory step must be an object", where)
        action = step.get("action")
        if action is None or (isinstance(action, str) and not action.strip()):
            continue
        if not isinstance(action, str):
            raise src.error(None, "action must be a string", where + ".action")
        obs = step.get("observation")
        tool, call = tool_call(action)
        c = Call(tool, call)
        if obs is not None:
            text = obs if isinstance(obs, str) else text_bytes(obs).decode("utf-8")
            c.ok = not failed(text)
            c.result = text_bytes(text)
        run.add_call(c)
    return [run]
