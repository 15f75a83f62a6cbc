# microloop_tools.deploy -- put the built guard and firmware on a board with mpremote.
#
# One mpremote invocation: make lib/ and lib/microloop_mpy/, copy every built file to its
# explicit destination (no reliance on how a port stats ":"), then start serving:
#   real boards:   `reset`  -- a hard reset runs main.py, as at power-on;
#   virtual board: `resume` everywhere (a soft reset makes the unix port exit) and, instead of
#                  a reset, `exec --no-follow` that drops the old modules and imports main.
# A running microloop_serve gives the console back on mpremote's Ctrl-C by itself.
# Never deletes anything on the board except the files it replaces.
from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import boards
from .build import build
from .paths import BUILD_DIR, tool

MKDIRS = (
    "import os\n"
    "for d in ('lib', 'lib/microloop_mpy'):\n"
    "    try:\n"
    "        os.mkdir(d)\n"
    "    except OSError:\n"
    "        pass\n"
)
RESTART_UNIX = (
    "import sys\n"
    "for k in list(sys.modules):\n"
    "    if k.startswith('microloop') or k == 'main':\n"
    "        del sys.modules[k]\n"
    "import main\n"
)


@dataclass
class DeployPlan:
    board: str
    port: str
    argv: list[str]

    def shell(self) -> str:
        return shlex.join(self.argv)


def plan(board_name: str, port: str, build_dir: Path | None = None,
         start: bool = True) -> DeployPlan:
    board = boards.load(board_name)
    out = build_dir or (BUILD_DIR / board.name)
    argv = [tool("mpremote"), "connect", port]
    if board.virtual:
        argv.append("resume")
    argv += ["exec", MKDIRS]
    for f in sorted(out.rglob("*")):
        if f.is_dir() or f.name == "BUILD.json":
            continue
        rel = f.relative_to(out).as_posix()
        argv += ["+", "fs", "cp", str(f), f":{rel}"]
    if start:
        if board.virtual:
            argv += ["+", "exec", "--no-follow", RESTART_UNIX]
        else:
            argv += ["+", "reset"]
    return DeployPlan(board.name, port, argv)


def mip_plan(board_name: str, port: str, package_json: Path) -> DeployPlan:
    """`mpremote mip install` from a package.json (sources, not .mpy): the repository's, or
    one that pkg.stage laid out from the installed package."""
    board = boards.load(board_name)
    argv = [tool("mpremote"), "connect", port]
    if board.virtual:
        argv.append("resume")
    argv += ["mip", "install", "--target", "lib", str(package_json)]
    return DeployPlan(board.name, port, argv)


def deploy(board_name: str, port: str, start: bool = True, dry_run: bool = False,
           timeout: float = 120.0, out_root: Path = BUILD_DIR) -> DeployPlan:
    """Builds (into out_root/<board>), then copies. Raises RuntimeError with mpremote's
    output on failure. A dry run builds too (a local compile; no board is touched), so the
    command it prints names the files a real deploy copies."""
    out = build(board_name, out_root).out_dir
    p = plan(board_name, port, out, start)
    if dry_run:
        return p
    r = subprocess.run(p.argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"mpremote failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return p
