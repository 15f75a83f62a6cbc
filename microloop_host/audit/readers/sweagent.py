# microloop_host.audit.readers.sweagent -- SWE-agent `.traj` files: {"trajectory": [{"action",
# "observation", ...}], ...}, one run a file. An action whose first word is one of SWE-agent's
# special commands (open, goto, scroll_down, edit, str_replace_editor, submit, ...) is that
# tool with {"args": the rest of the action}; anything else is `bash` with {"command": the
# action}. ok=False when the observation says the command did not finish or did not run:
# SWE-agent's timeout messages ("EXECUTION TIMED OUT", "... was cancelled because it took
# more than N seconds") and its "syntax errors and was NOT executed" message. An empty action
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


def failed(observation: str) -> bool:
    """True when an observation says the command timed out or did not run."""
    return any(p in observation for p in FAILED)


def read(src: Source) -> list[Run]:
    """One run: the file's trajectory steps with a non-empty action."""
    doc = src.document()
    traj = doc.get("trajectory") if isinstance(doc, dict) else None
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
