"""`microloop check-policy FILE`: validate a policy, print its compiled rules and the memory
the Guard built from it takes (measured on the MicroPython unix port when it is installed).
Exit status 0 when the policy is valid, 2 (with the ValueError's message) when it is not."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from microloop_host.extras import need_for_policy
from microloop_mpy import Guard
from microloop_mpy.policy import compile_policy
from microloop_mpy.rules import K_ALLOW, K_BLOCK, K_COUNT, T_ANY, T_PREFIX

_KIND = {K_BLOCK: "block", K_ALLOW: "allow", K_COUNT: "count"}
_MP_HEAP = """
import gc, json, sys
from microloop_mpy import Guard
from microloop_mpy.policy import compile_policy
policy = json.loads(sys.stdin.read())
policy.pop("state_path", None)
gc.collect()
before = gc.mem_alloc()
g = Guard(policy)
gc.collect()
print(gc.mem_alloc() - before)
"""


def describe(policy: dict) -> list[str]:
    """One line per compiled rule (raises ValueError for an invalid policy)."""
    guard = Guard(policy)
    p = compile_policy(policy)
    r = guard._rules
    lines = [f"history {p.history}, window {p.window}, max_call_bytes {p.max_call_bytes}, "
             f"max_depth {p.max_depth}, default {p.default}, state_path {p.state_path}"]
    if r is None:
        return lines + ["no rules"]
    for i in range(r.n):
        mode = r.tool_mode[i]
        tool = "*" if mode == T_ANY else r.tool[i].decode() + ("*" if mode == T_PREFIX else "")
        kind = _KIND.get(r.kind[i], "schema")
        cond = ""
        if r.path[i] is not None:
            cond = " arg " + ".".join(s.decode() for s in r.path[i])
            if r.exact[i] is not None:
                is_str, text = r.exact[i]
                cond += " exact " + (json.dumps(text.decode()) if is_str else text.decode())
            if r.prefix[i] is not None:
                cond += " prefix " + json.dumps(r.prefix[i].decode())
            if r.regex[i] is not None:
                cond += " regex " + json.dumps(r.regex[i].pattern) + " (CPython only)"
        if kind == "count":
            per = f" per {r.per_ms[i] // 1000} s" if r.per_ms[i] else " lifetime"
            cond += f" budget {r.count[i]}{per} (key {r.key_h[i]:04x}{r.key_l[i]:04x})"
        lines.append(f"[{i}] {kind:6} tool {tool}{cond}")
    return lines


def device_heap(policy: dict) -> str:
    exe = Path(sys.executable).parent / "micropython"
    if not exe.exists():
        return "unknown (no MicroPython unix port next to this Python)"
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([str(exe), "-c", _MP_HEAP], input=json.dumps(policy), text=True,
                          capture_output=True, timeout=60,
                          env={"MICROPYPATH": f"{root}:.frozen"})
    if proc.returncode != 0:
        return "not loadable on MicroPython: " + (proc.stdout + proc.stderr).strip().splitlines()[-1]
    return proc.stdout.strip() + " bytes (unix port)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="microloop check-policy", description=__doc__)
    ap.add_argument("file", type=Path, help="policy JSON file")
    args = ap.parse_args(argv)
    try:
        policy = json.loads(args.file.read_text(encoding="utf-8"))
        need_for_policy(policy, "microloop check-policy")  # a schema rule without jsonschema
        lines = describe(policy)
    except (OSError, ValueError) as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    print("Guard(...) heap:", device_heap(policy))
    return 0


if __name__ == "__main__":
    sys.exit(main())
