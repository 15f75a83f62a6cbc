# microloop_tools.uf2 -- UF2 files and the RP2040 BOOTSEL drive.
#
# UF2 (Microsoft's USB flashing format): 512-byte blocks, each a 32-byte header
# (magic 0x0A324655, magic 0x9E5D5157, flags, target address, payload size, block number,
# number of blocks, family ID -- flag 0x2000 says the last field is a family ID), up to 476
# payload bytes, and the end magic 0x0AB16F30. The RP2040 boot ROM takes 256-byte payloads
# aligned on 256 and family 0xe48bff56; flash starts at 0x10000000.
# The BOOTSEL drive is a FAT volume labelled RPI-RP2 holding INFO_UF2.TXT ("Board-ID: RPI-RP2");
# copying a .uf2 file onto it flashes the chip, which then reboots.
#
# Never writes anywhere but the drive it was given, and only after checking its INFO_UF2.TXT
# and the file's family ID: a UF2 for another chip is refused, not copied.
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

MAGIC0 = 0x0A324655
MAGIC1 = 0x9E5D5157
MAGIC_END = 0x0AB16F30
FLAG_NOT_MAIN_FLASH = 0x00000001
FLAG_FAMILY_ID = 0x00002000
BLOCK = 512
PAYLOAD_MAX = 476
RP2040_FAMILY = 0xE48BFF56
FAMILIES = {
    0xE48BFF56: "RP2040",
    0xE48BFF59: "RP2350-ARM-S",
    0x1C5F21B0: "ESP32",
    0xC47E5767: "ESP32-S3",
}


class Uf2Error(ValueError):
    pass


def bin_to_uf2(data: bytes, base: int, family: int, payload: int = 256) -> bytes:
    """Converts a raw image to UF2 blocks of `payload` bytes from address `base`."""
    if base % payload:
        raise Uf2Error(f"base 0x{base:x} is not aligned on {payload}")
    n = (len(data) + payload - 1) // payload
    out = bytearray()
    for i in range(n):
        chunk = data[i * payload:(i + 1) * payload]
        head = struct.pack("<IIIIIIII", MAGIC0, MAGIC1, FLAG_FAMILY_ID, base + i * payload,
                           payload, i, n, family)
        out += head + chunk.ljust(PAYLOAD_MAX, b"\x00") + struct.pack("<I", MAGIC_END)
    return bytes(out)


@dataclass
class Uf2Info:
    blocks: int
    families: set[int]
    start: int
    end: int  # one past the last byte written
    payload_bytes: int
    problems: list[str] = field(default_factory=list)

    @property
    def family_names(self) -> list[str]:
        return [FAMILIES.get(f, f"0x{f:08x}") for f in sorted(self.families)]


def parse(data: bytes) -> Uf2Info:
    """Reads and checks every block; problems are listed, not raised."""
    problems: list[str] = []
    if not data or len(data) % BLOCK:
        problems.append(f"size {len(data)} is not a non-zero multiple of {BLOCK}")
    families: set[int] = set()
    start, end, total = 1 << 32, 0, 0
    count = len(data) // BLOCK
    declared = None
    for i in range(count):
        b = data[i * BLOCK:(i + 1) * BLOCK]
        m0, m1, flags, addr, size, no, num, fam = struct.unpack_from("<IIIIIIII", b)
        (mend,) = struct.unpack_from("<I", b, BLOCK - 4)
        if m0 != MAGIC0 or m1 != MAGIC1 or mend != MAGIC_END:
            problems.append(f"block {i}: bad magic")
            continue
        if size > PAYLOAD_MAX:
            problems.append(f"block {i}: payload size {size} > {PAYLOAD_MAX}")
        if no != i:
            problems.append(f"block {i}: numbered {no}")
        if declared is None:
            declared = num
        elif num != declared:
            problems.append(f"block {i}: says {num} blocks, block 0 said {declared}")
        if flags & FLAG_FAMILY_ID:
            families.add(fam)
        if not flags & FLAG_NOT_MAIN_FLASH:
            start = min(start, addr)
            end = max(end, addr + size)
            total += size
    if declared is not None and declared != count:
        problems.append(f"file holds {count} blocks, blocks say {declared}")
    return Uf2Info(count, families, start if total else 0, end, total, problems)


def read_info(drive: Path) -> dict[str, str]:
    """INFO_UF2.TXT as a dict ("Board-ID" -> "RPI-RP2", ...); {} when absent."""
    p = Path(drive) / "INFO_UF2.TXT"
    try:
        text = p.read_text(errors="replace")
    except OSError:
        return {}
    info: dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            info[k.strip()] = v.strip()
        elif line.strip() and "banner" not in info:
            info["banner"] = line.strip()
    return info


def candidate_roots() -> list[Path]:
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or ""
    roots = [Path("/media") / user, Path("/run/media") / user, Path("/media"), Path("/mnt"),
             Path("/Volumes")]
    return [r for r in roots if r.is_dir()]


def find_drive(board_id: str = "RPI-RP2", roots: list[Path] | None = None) -> Path | None:
    """The mounted BOOTSEL drive whose INFO_UF2.TXT names board_id, or None."""
    for root in roots if roots is not None else candidate_roots():
        try:
            subdirs = sorted(p for p in root.iterdir() if p.is_dir())
        except OSError:
            continue
        for d in [root] + subdirs:
            if read_info(d).get("Board-ID") == board_id:
                return d
    return None


def copy_to_drive(uf2_file: Path, drive: Path, board_id: str, family: int,
                  dest_name: str | None = None) -> Path:
    """Checks the drive and the file, then copies (the chip flashes and reboots)."""
    info = read_info(drive)
    if not info:
        raise Uf2Error(f"{drive}: no INFO_UF2.TXT: not a UF2 bootloader drive")
    if info.get("Board-ID") != board_id:
        raise Uf2Error(f"{drive}: Board-ID is {info.get('Board-ID')!r}, expected {board_id!r}")
    data = Path(uf2_file).read_bytes()
    u = parse(data)
    if u.problems:
        raise Uf2Error(f"{uf2_file}: not a valid UF2: {'; '.join(u.problems[:3])}")
    if u.families and family not in u.families:
        raise Uf2Error(f"{uf2_file}: UF2 family {', '.join(u.family_names)} is not "
                       f"{FAMILIES.get(family, hex(family))} (0x{family:08x})")
    dest = Path(drive) / (dest_name or Path(uf2_file).name)
    with open(dest, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return dest


def ensure_uf2(firmware: Path, out_dir: Path, base: int, family: int) -> Path:
    """A .uf2 as is; a raw .bin converted to UF2 at `base` (written to out_dir)."""
    firmware = Path(firmware)
    data = firmware.read_bytes()
    if firmware.suffix.lower() == ".uf2" or data[:4] == struct.pack("<I", MAGIC0):
        return firmware
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / (firmware.stem + ".uf2")
    dest.write_bytes(bin_to_uf2(data, base, family))
    return dest
