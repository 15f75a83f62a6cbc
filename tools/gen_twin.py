"""Make the pure-Python twin of a viper module (microloop_mpy/_pass.py -> _pass_twin.py).

The twin is the same code with the viper decorator and the type annotations removed, and every
store into a ptr32 argument masked to 32 bits (viper stores truncate to the word; Python ints
do not). It is the definition of the single-pass scanner on ports without viper, and the
reference the viper code is held against bit for bit on every device. Never edit the twin by
hand: run `python -m microloop_tools.gen_twin` and commit both files.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAIRS = (("microloop_mpy/_pass.py", "microloop_mpy/_pass_twin.py"),)
_DEF = re.compile(r"^(\s*)def (\w+)\((.*)\)\s*(->\s*\w+)?\s*:\s*$")
_ARG = re.compile(r"\s*(\w+)\s*(?::\s*(\w+))?\s*")


def twin_source(text: str, name: str) -> str:
    """The twin's text for the viper module text `text` (named `name` in its header)."""
    out = [f"# GENERATED from {name} by tools/gen_twin.py -- do not edit. The pure-Python twin",
           "# of the viper code there: the same logic, bit for bit, with ptr32 stores masked.",
           "# Never allocates on MicroPython."]
    ptr32: set[str] = set()
    body = text.splitlines()
    # skip the viper module's header comment and its import
    k = 0
    while k < len(body) and (body[k].startswith("#") or not body[k].strip()):
        k += 1
    for line in body[k:]:
        stripped = line.strip()
        if stripped in ("import micropython", "@micropython.viper"):
            continue
        m = _DEF.match(line)
        if m:
            indent, fname, args = m.group(1), m.group(2), m.group(3)
            names = []
            ptr32 = set()
            for a in args.split(","):
                am = _ARG.fullmatch(a)
                if not am:
                    raise ValueError(f"cannot read argument {a!r} of {fname}")
                names.append(am.group(1))
                if am.group(2) == "ptr32":
                    ptr32.add(am.group(1))
            out.append(f"{indent}def {fname}({', '.join(names)}):")
            continue
        sm = re.match(r"^(\s*)(\w+)(\[[^=]*\])\s*=\s*(.+)$", line)
        if sm and sm.group(2) in ptr32 and not sm.group(4).startswith("="):
            expr = sm.group(4)
            comment = ""
            if "  # " in expr:
                expr, comment = expr.split("  # ", 1)
                comment = "  # " + comment
            out.append(f"{sm.group(1)}{sm.group(2)}{sm.group(3)} = ({expr.strip()}) & 0xFFFFFFFF"
                       f"{comment}")
            continue
        out.append(line)
    return "\n".join(out).rstrip() + "\n"


def generate(check: bool = False) -> list[str]:
    """Write (or with check=True only compare) every twin; returns the stale ones' paths."""
    stale = []
    for src, dst in PAIRS:
        text = twin_source((ROOT / src).read_text(), Path(src).name)
        path = ROOT / dst
        if not path.exists() or path.read_text() != text:
            stale.append(dst)
            if not check:
                path.write_text(text)
    return stale


if __name__ == "__main__":
    stale = generate(check="--check" in sys.argv)
    for s in stale:
        print(("stale: " if "--check" in sys.argv else "wrote: ") + s)
    sys.exit(1 if stale and "--check" in sys.argv else 0)
