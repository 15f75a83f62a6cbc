# microloop_tools.boards -- a board's facts, read from boards/<name>.json (one file per board):
# chip, serial defaults, USB IDs for auto-detect, mpy-cross arch, flash method and layout,
# max_call_bytes preset, heap size of the virtual board, serial window (the most bytes of a
# frame the host may have in flight: it must fit the board's console input ring). Nothing
# about a board is hard-coded elsewhere in the harness.
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .paths import BOARDS_DIR


@dataclass(frozen=True)
class UsbId:
    vid: int
    pid: int
    name: str


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    chip: str
    micropython_port: str
    baud: int
    dtr: bool
    rts: bool
    usb: tuple[UsbId, ...]
    mpy_arch: str
    flash: dict[str, Any]
    max_call_bytes: int
    heapsize: str | None = None
    firmware_download: str | None = None
    serial_window: int = 128
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def virtual(self) -> bool:
        return self.micropython_port == "unix"

    @property
    def flash_method(self) -> str:
        return str(self.flash.get("method", "none"))


def names() -> list[str]:
    """The bundled boards (the board files that travel in the package)."""
    return sorted(p.stem for p in BOARDS_DIR.glob("*.json"))


def board_path(name: str, boards_dir: Path = BOARDS_DIR) -> Path:
    """A bundled board's file by name, or your own board file when `name` ends in .json.
    Raises ValueError (one line) when there is no such board or file."""
    if name.endswith(".json"):
        if not Path(name).is_file():
            raise ValueError(f"{name}: no such board file")
        return Path(name)
    path = boards_dir / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"unknown board {name!r}: known boards are {', '.join(names())} "
                         "(or pass the path of a board .json file)")
    return path


def load(name: str, boards_dir: Path = BOARDS_DIR) -> Board:
    """The board `name` (see board_path). A malformed file raises from json or a KeyError;
    the command line turns either into one line (cli._board)."""
    path = board_path(name, boards_dir)
    d = json.loads(path.read_text())
    win = d.get("serial_window", 128)
    if not isinstance(win, int) or win < 128:
        raise ValueError(f"{path}: serial_window must be an integer >= 128 (got {win!r})")
    usb = tuple(UsbId(int(u["vid"], 16), int(u["pid"], 16), u.get("name", ""))
                for u in d.get("usb", []))
    return Board(
        name=d["name"],
        description=d.get("description", ""),
        chip=d["chip"],
        micropython_port=d["micropython_port"],
        baud=int(d.get("baud", 115200)),
        dtr=bool(d.get("dtr", True)),
        rts=bool(d.get("rts", True)),
        usb=usb,
        mpy_arch=d["mpy_arch"],
        flash=dict(d.get("flash", {})),
        max_call_bytes=int(d["max_call_bytes"]),
        heapsize=d.get("heapsize"),
        firmware_download=d.get("firmware_download"),
        serial_window=win,
        raw=d,
    )


def detect_port(board: Board) -> str:
    """The serial port of a connected board, by USB VID/PID. Raises when none or several."""
    from serial.tools import list_ports

    ids = {(u.vid, u.pid) for u in board.usb}
    hits = [p.device for p in list_ports.comports() if (p.vid, p.pid) in ids]
    if not hits:
        wanted = ", ".join(f"{u.vid:04x}:{u.pid:04x} ({u.name})" for u in board.usb) or "none"
        raise RuntimeError(f"no {board.name} found on USB (looked for {wanted}); pass --port")
    if len(hits) > 1:
        raise RuntimeError(f"several {board.name} candidates: {', '.join(hits)}; pass --port")
    return hits[0]
