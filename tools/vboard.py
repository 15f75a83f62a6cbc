# microloop_tools.vboard -- the virtual board: the MicroPython unix port on a pseudo-terminal.
#
# What it is for: `--board unix` without `--port`. The unix port gets the pty's master side as
# its stdin/stdout; the slave side's path (/dev/pts/N) is the "serial port" that pyserial and
# mpremote open exactly as they open a USB CDC device. Its "flash" is a directory (the
# process's working directory, sys.path = that directory and its lib/), filled from
# build/unix/ or by `mpremote ... resume cp`. `-X heapsize` comes from boards/unix.json.
#
# What it must never do: leave the pty in cooked mode (the device would read its own echo and
# see "\n" turned into "\r\n"), or let the device see the port close (EIO/EOF ends it): this
# object keeps the slave side open for the board's whole life, like the USB device stays
# enumerated while a host program closes and reopens the port. Fault injection (kill,
# suspend) is for tests only.
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path

from . import boards
from .paths import micropython


@dataclass
class VirtualBoard:
    """A MicroPython unix port serving on a pty. Use as a context manager or start()/stop()."""

    flash_dir: Path
    heapsize: str = "256k"
    run_main: bool = True  # run main.py at start when the flash holds one (a real board does)
    log_path: Path | None = None
    port: str = ""
    proc: subprocess.Popen | None = field(default=None, repr=False)
    _master: int = field(default=-1, repr=False)
    _slave: int = field(default=-1, repr=False)
    _tmp: tempfile.TemporaryDirectory | None = field(default=None, repr=False)
    _log: object = field(default=None, repr=False)

    @classmethod
    def from_board(cls, board: str = "unix", flash_dir: Path | None = None,
                   populate_from: Path | None = None, **kw) -> "VirtualBoard":
        """A virtual board for boards/<board>.json. Without flash_dir it lives in a temporary
        directory removed by stop(); populate_from (e.g. build/unix) is copied into it."""
        b = boards.load(board)
        if not b.virtual:
            raise ValueError(f"board {board!r} is not a virtual board")
        tmp = None
        if flash_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="microloop-vboard-")
            flash_dir = Path(tmp.name) / "flash"
            flash_dir.mkdir()
        if populate_from is not None:
            shutil.copytree(populate_from, flash_dir, dirs_exist_ok=True)
        vb = cls(flash_dir=Path(flash_dir), heapsize=b.heapsize or "256k", **kw)
        vb._tmp = tmp
        return vb

    # ---- life cycle ---------------------------------------------------------------------
    def start(self) -> str:
        """Powers the board on; returns the port path. Idempotent."""
        if self._master < 0:
            self._master, self._slave = os.openpty()
            # Raw mode before anything runs: no echo, no CR/LF mapping, no signals from 0x03.
            tty.setraw(self._slave)
            self.port = os.ttyname(self._slave)
        if self.alive():
            return self.port
        self._drain_master()
        if self.log_path is None:
            self.log_path = self.flash_dir.parent / "vboard.log"
        self._log = open(self.log_path, "ab")
        cmd = [micropython(), "-X", f"heapsize={self.heapsize}"]
        if self.run_main and (self.flash_dir / "main.py").exists():
            cmd += ["-i", "main.py"]  # -i: the REPL after main.py returns, as on a board
        env = dict(os.environ)
        env["MICROPYPATH"] = f".frozen:{self.flash_dir / 'lib'}"
        self.proc = subprocess.Popen(
            cmd, stdin=self._master, stdout=self._master, stderr=self._log,
            cwd=self.flash_dir, env=env, close_fds=True, start_new_session=True)
        return self.port

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def hard_reset(self) -> None:
        """Like pressing RESET: the process restarts from main.py; the port stays."""
        self._kill_proc()
        self.start()

    def stop(self) -> None:
        """Powers off and releases the pty (and the temporary flash, if any)."""
        self._kill_proc()
        for fd in (self._master, self._slave):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = -1
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "VirtualBoard":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- fault injection (tests) ------------------------------------------------------------
    def kill(self) -> None:
        """The device dies (power cut): SIGKILL, no restart. The port stays open."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def suspend(self) -> None:
        """The device stops answering (SIGSTOP) until resume()."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGCONT)

    def log_text(self) -> str:
        try:
            return Path(self.log_path).read_text(errors="replace") if self.log_path else ""
        except OSError:
            return ""

    # ---- internals ----------------------------------------------------------------------------
    def _kill_proc(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    os.kill(self.proc.pid, signal.SIGCONT)
                except OSError:
                    pass
                self.proc.terminate()
                try:
                    self.proc.wait(3)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def _drain_master(self) -> None:
        """Drops bytes the host sent to a dead device (a reset device never sees them)."""
        if self._master < 0:
            return
        os.set_blocking(self._master, False)
        try:
            while True:
                try:
                    if not os.read(self._master, 4096):
                        break
                except (BlockingIOError, OSError):
                    break
        finally:
            os.set_blocking(self._master, True)


def wait_for_port(path: str, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > end:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.05)
