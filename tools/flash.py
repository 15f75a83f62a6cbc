# microloop_tools.flash -- put MicroPython itself on a board, the way its vendor documents it.
#   ESP32 / ESP32-S3: esptool (v5 command spelling; v4's erase_flash/write_flash are
#     deprecated aliases):  esptool --chip esp32 --port P erase-flash
#                           esptool --chip esp32 --port P --baud 460800 \
#                                   write-flash -z 0x1000 FW.bin
#     The offset comes from boards/<name>.json: 0x1000 on the ESP32 (its bootloader sits
#     there), 0x0 on the ESP32-S3.
#   RP2040: copy the .uf2 onto the RPI-RP2 drive (BOOTSEL); a raw .bin is converted to UF2 at
#     0x10000000, family 0xe48bff56, first.
# --dry-run prints the exact commands and touches nothing. Never flashes a file that does not
# exist or a board whose flash method it does not know.
from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import boards, uf2
from .paths import BUILD_DIR, tool


@dataclass
class FlashPlan:
    board: str
    commands: list[list[str]] = field(default_factory=list)  # esptool argv lists
    uf2_source: Path | None = None
    uf2_drive: Path | None = None
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [shlex.join(c) for c in self.commands]
        if self.uf2_source is not None:
            drive = self.uf2_drive if self.uf2_drive else Path("<RPI-RP2 drive>")
            out.append(shlex.join(["cp", str(self.uf2_source), str(drive) + "/"]))
        return out


ESP_IMAGE_MAGIC = 0xE9


def check_esp_image(firmware: Path, board: boards.Board) -> str:
    """Refuses a file that is not an ESP image for this chip (the first image of a MicroPython
    .bin is the bootloader: magic 0xE9; its extended header holds the chip ID at byte 12,
    0 = ESP32, 9 = ESP32-S3). Returns a one-line description."""
    head = Path(firmware).read_bytes()[:24]
    if len(head) < 24 or head[0] != ESP_IMAGE_MAGIC:
        raise ValueError(f"{firmware}: not an ESP firmware image (first byte is not 0xE9); "
                         f"download the .bin for {board.name} from {board.firmware_download}")
    chip_id = head[12] | head[13] << 8
    want = board.flash.get("image_chip_id")
    if want is not None and chip_id != want:
        raise ValueError(f"{firmware}: image is for chip ID {chip_id}, {board.name} needs "
                         f"{want}: wrong firmware for this board")
    return f"ESP image, chip ID {chip_id}, {head[1]} segments"


def esptool_argv(board: boards.Board, port: str, firmware: Path, baud: int | None = None,
                 erase: bool | None = None, exe: str = "esptool") -> list[list[str]]:
    f = board.flash
    chip = f.get("esptool_chip", board.chip)
    offset = f["offset"]
    cmds = []
    if f.get("erase_first", True) if erase is None else erase:
        cmds.append([exe, "--chip", chip, "--port", port, "erase-flash"])
    cmds.append([exe, "--chip", chip, "--port", port, "--baud", str(baud or f.get("baud", 460800)),
                 "write-flash", "-z", offset, str(firmware)])
    return cmds


def plan(board_name: str, port: str | None, firmware: Path, drive: Path | None = None,
         baud: int | None = None, erase: bool | None = None, dry_run: bool = False) -> FlashPlan:
    board = boards.load(board_name)
    firmware = Path(firmware)
    p = FlashPlan(board.name)
    method = board.flash_method
    if method == "esptool":
        if not port:
            raise ValueError("--port is required to flash with esptool")
        exe = "esptool" if dry_run else tool("esptool")
        if firmware.exists() or not dry_run:
            p.notes.append(check_esp_image(firmware, board))
        p.commands = esptool_argv(board, port, firmware, baud, erase, exe)
        p.notes.append(f"{board.chip}: image at {board.flash['offset']}")
    elif method == "uf2":
        fam = int(board.flash["uf2_family_id"], 16)
        base = int(board.flash.get("flash_base", "0x10000000"), 16)
        if dry_run and not firmware.exists():
            p.uf2_source = firmware
        else:
            p.uf2_source = uf2.ensure_uf2(firmware, BUILD_DIR / board.name, base, fam)
        p.uf2_drive = drive or uf2.find_drive(board.flash.get("board_id", "RPI-RP2"))
        p.notes.append("hold BOOTSEL while plugging in (or `mpremote connect PORT bootloader`): "
                       "the RPI-RP2 drive appears")
    elif method == "none":
        raise ValueError(f"board {board.name} has nothing to flash (virtual board)")
    else:
        raise ValueError(f"board {board.name}: unknown flash method {method!r}")
    return p


def run(p: FlashPlan, board_name: str) -> None:
    """Executes a plan. Raises RuntimeError with the tool's output on failure."""
    board = boards.load(board_name)
    for argv in p.commands:
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(
                f"{shlex.join(argv)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    if p.uf2_source is not None:
        if p.uf2_drive is None:
            raise RuntimeError("no RPI-RP2 drive found: hold BOOTSEL while plugging the Pico in "
                               "(or `mpremote connect PORT bootloader`), or pass --drive")
        uf2.copy_to_drive(p.uf2_source, p.uf2_drive, board.flash.get("board_id", "RPI-RP2"),
                          int(board.flash["uf2_family_id"], 16))
