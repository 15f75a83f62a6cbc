# Harness, flashing: `microloop flash --dry-run` must print exactly what esptool documents
# (v5 spelling: erase-flash, write-flash; ESP32 at 0x1000, ESP32-S3 at 0x0), checked by
# handing the printed argv to esptool's own command-line parser; esptool's file commands
# (merge-bin, image-info) run on real image files made here; the RP2040 path converts and
# copies a UF2 onto a fake RPI-RP2 drive (INFO_UF2.TXT), and refuses the wrong drive or chip.
from __future__ import annotations

import shlex
import struct
import subprocess
from pathlib import Path

import pytest

from microloop_tools import boards, cli, flash, uf2
from microloop_tools.paths import tool

PORT = "/dev/ttyUSB0"


def esptool_parse(argv: list[str]):
    """Parses an esptool command line with esptool's own click CLI, without running it.
    Returns (global options, subcommand name, subcommand options)."""
    import esptool

    group = esptool.cli
    group._esp = None  # set by esptool's __call__ when it really runs
    ctx = group.make_context("esptool", list(argv))
    rest = list(ctx._protected_args) + list(ctx.args) if hasattr(ctx, "_protected_args") \
        else list(ctx.args)
    name, cmd, rest = group.resolve_command(ctx, rest)
    sub = cmd.make_context(name, rest, parent=ctx)
    return ctx.params, name, sub.params


def make_image(path: Path, chip: str) -> Path:
    """A real (tiny) ESP application image, written by esptool's own image classes."""
    from esptool.bin_image import ELFSection, ESP32FirmwareImage, ESP32S3FirmwareImage

    img = ESP32FirmwareImage() if chip == "esp32" else ESP32S3FirmwareImage()
    img.entrypoint = 0x40080000
    img.segments = [ELFSection(b".dram0.data", 0x3FFB0000, b"microloop test data " * 8, 0),
                    ELFSection(b".iram0.text", 0x40080000, b"\x00" * 64, 0)]
    img.save(str(path))
    return path


def esptool_run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    r = subprocess.run([tool("esptool"), *args], capture_output=True, text=True, cwd=cwd,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.fixture(scope="module")
def esp32_firmware(tmp_path_factory) -> Path:
    """A MicroPython-shaped ESP32 .bin: bootloader at 0x1000, partition table at 0x8000,
    app at 0x10000, merged by esptool merge-bin into one file that starts at 0x1000."""
    d = tmp_path_factory.mktemp("esp32fw")
    make_image(d / "bootloader.bin", "esp32")
    make_image(d / "app.bin", "esp32")
    (d / "partitions.bin").write_bytes(b"\xaa\x50" + b"microloop test".ljust(30, b"\0")
                                       + b"\xff" * 3040)
    esptool_run("--chip", "esp32", "merge-bin", "-o", "firmware.bin", "--target-offset",
                "0x1000", "0x1000", "bootloader.bin", "0x8000", "partitions.bin",
                "0x10000", "app.bin", cwd=d)
    return d / "firmware.bin"


def test_esptool_merge_bin_lays_out_the_micropython_image(esp32_firmware):
    data = esp32_firmware.read_bytes()
    parts = (esp32_firmware.parent / "partitions.bin").read_bytes()
    app = (esp32_firmware.parent / "app.bin").read_bytes()
    boot = (esp32_firmware.parent / "bootloader.bin").read_bytes()
    # offsets in the file are flash offsets minus the 0x1000 target offset; gaps are 0xFF
    assert data[: len(boot)] == boot
    assert data[0x7000: 0x7000 + len(parts)] == parts
    assert data[0xF000: 0xF000 + len(app)] == app
    assert set(data[len(boot): 0x7000]) == {0xFF}
    info = esptool_run("image-info", str(esp32_firmware)).stdout
    assert "Chip ID: 0 (ESP32)" in info and "Checksum" in info and "(valid)" in info


def test_our_image_check_agrees_with_esptool_image_info(esp32_firmware, tmp_path):
    s3 = make_image(tmp_path / "s3.bin", "esp32s3")
    assert "Chip ID: 9 (ESP32-S3)" in esptool_run("image-info", str(s3)).stdout
    assert "chip ID 0" in flash.check_esp_image(esp32_firmware, boards.load("esp32"))
    assert "chip ID 9" in flash.check_esp_image(s3, boards.load("esp32s3"))
    with pytest.raises(ValueError, match="wrong firmware"):
        flash.check_esp_image(s3, boards.load("esp32"))
    with pytest.raises(ValueError, match="not an ESP firmware image"):
        flash.check_esp_image(Path(uf2.__file__), boards.load("esp32"))


@pytest.mark.parametrize("board,offset", [("esp32", 0x1000), ("esp32s3", 0x0)])
def test_flash_dry_run_prints_esptools_documented_commands(board, offset, esp32_firmware,
                                                           tmp_path, capsys):
    fw = esp32_firmware if board == "esp32" else make_image(tmp_path / "s3.bin", "esp32s3")
    rc = cli.main(["flash", "--board", board, "--port", PORT, "--firmware", str(fw),
                   "--dry-run"])
    assert rc == 0
    lines = capsys.readouterr().out.strip().splitlines()
    chip = boards.load(board).flash["esptool_chip"]
    assert lines == [
        f"esptool --chip {chip} --port {PORT} erase-flash",
        f"esptool --chip {chip} --port {PORT} --baud 460800 write-flash -z "
        f"{boards.load(board).flash['offset']} {fw}",
    ]
    # esptool's own parser accepts both, as the non-deprecated commands
    g, name, sub = esptool_parse(shlex.split(lines[0])[1:])
    assert (g["chip"], g["port"], name) == (chip, PORT, "erase-flash")
    g, name, sub = esptool_parse(shlex.split(lines[1])[1:])
    assert (g["chip"], g["port"], g["baud"], name) == (chip, PORT, 460800, "write-flash")
    assert sub["compress"] is True
    (addr, f), = sub["addr_filename"]
    assert addr == offset and f.name == str(fw)
    f.close()


def test_flash_refuses_an_image_for_another_chip(esp32_firmware, capsys):
    rc = cli.main(["flash", "--board", "esp32s3", "--port", PORT, "--firmware",
                   str(esp32_firmware), "--dry-run"])
    assert rc == cli.EXIT_USAGE
    assert "wrong firmware for this board" in capsys.readouterr().err


def test_flash_no_erase_and_baud(esp32_firmware):
    p = flash.plan("esp32", PORT, esp32_firmware, baud=921600, erase=False, dry_run=True)
    assert p.lines() == [f"esptool --chip esp32 --port {PORT} --baud 921600 write-flash -z "
                         f"0x1000 {esp32_firmware}"]


def test_uf2_conversion_round_trip():
    data = bytes(range(256)) * 5 + b"tail"
    u = uf2.bin_to_uf2(data, 0x10000000, uf2.RP2040_FAMILY)
    assert len(u) == 6 * 512  # 1284 bytes in 256-byte payloads
    info = uf2.parse(u)
    assert not info.problems and info.blocks == 6
    assert info.families == {uf2.RP2040_FAMILY} and info.family_names == ["RP2040"]
    assert (info.start, info.end, info.payload_bytes) == (0x10000000, 0x10000000 + 1536, 1536)
    # the payload is where the address says
    blk = u[512 * 5: 512 * 6]
    assert struct.unpack_from("<I", blk, 12)[0] == 0x10000500
    assert blk[32: 32 + 4] == b"tail"
    bad = bytearray(u)
    bad[512 * 2] ^= 1
    assert "block 2: bad magic" in uf2.parse(bytes(bad)).problems


def test_esptools_uf2_output_parses_and_is_refused_for_a_pico(esp32_firmware, tmp_path):
    out = tmp_path / "esp32.uf2"
    esptool_run("--chip", "esp32", "merge-bin", "--format", "uf2", "-o", str(out),
                "0x1000", str(esp32_firmware))
    info = uf2.parse(out.read_bytes())
    assert not info.problems and info.families == {0x1C5F21B0}  # ESP32
    drive = fake_rpi_rp2(tmp_path / "RPI-RP2")
    with pytest.raises(uf2.Uf2Error, match="family ESP32 is not RP2040"):
        uf2.copy_to_drive(out, drive, "RPI-RP2", uf2.RP2040_FAMILY)
    assert not (drive / "esp32.uf2").exists()


def fake_rpi_rp2(path: Path, board_id: str = "RPI-RP2") -> Path:
    path.mkdir(parents=True)
    (path / "INDEX.HTM").write_text("<html>redirect</html>\n")
    (path / "INFO_UF2.TXT").write_text(
        f"UF2 Bootloader v3.0\r\nModel: Raspberry Pi RP2\r\nBoard-ID: {board_id}\r\n")
    return path


def test_flash_rp2040_converts_and_copies_to_the_rpi_rp2_drive(tmp_path, capsys):
    media = tmp_path / "media"
    drive = fake_rpi_rp2(media / "RPI-RP2")
    fake_rpi_rp2(media / "OTHER", board_id="RP2350")  # another UF2 board: not ours
    raw_bin = tmp_path / "firmware.bin"
    raw_bin.write_bytes(b"\x00\xb5" * 700)  # a raw image: converted to UF2 at 0x10000000
    assert uf2.find_drive("RPI-RP2", [media]) == drive
    assert uf2.find_drive("RPI-RP2", [tmp_path / "nothing"]) is None
    rc = cli.main(["flash", "--board", "rp2040", "--firmware", str(raw_bin), "--drive",
                   str(drive)])
    assert rc == 0
    assert "cp " in capsys.readouterr().out
    copied = drive / "firmware.uf2"
    info = uf2.parse(copied.read_bytes())
    assert not info.problems and info.families == {uf2.RP2040_FAMILY}
    assert info.start == 0x10000000 and info.payload_bytes >= 1400
    # a .uf2 is copied as is, byte for byte
    ready = tmp_path / "RPI_PICO-v1.29.0.uf2"
    ready.write_bytes(uf2.bin_to_uf2(b"\x01" * 300, 0x10000000, uf2.RP2040_FAMILY))
    assert cli.main(["flash", "--board", "rp2040", "--firmware", str(ready), "--drive",
                     str(drive)]) == 0
    assert (drive / ready.name).read_bytes() == ready.read_bytes()


def test_uf2_copy_refuses_the_wrong_drive(tmp_path):
    good = tmp_path / "fw.uf2"
    good.write_bytes(uf2.bin_to_uf2(b"\x01" * 300, 0x10000000, uf2.RP2040_FAMILY))
    other = fake_rpi_rp2(tmp_path / "RP2350", board_id="RP2350")
    with pytest.raises(uf2.Uf2Error, match="Board-ID is 'RP2350'"):
        uf2.copy_to_drive(good, other, "RPI-RP2", uf2.RP2040_FAMILY)
    plain = tmp_path / "usbstick"
    plain.mkdir()
    with pytest.raises(uf2.Uf2Error, match="no INFO_UF2.TXT"):
        uf2.copy_to_drive(good, plain, "RPI-RP2", uf2.RP2040_FAMILY)
    assert not list(plain.iterdir()) and not (other / "fw.uf2").exists()


def test_flash_dry_run_for_rp2040_without_a_drive(tmp_path, capsys):
    fw = tmp_path / "RPI_PICO.uf2"
    fw.write_bytes(uf2.bin_to_uf2(b"\x02" * 300, 0x10000000, uf2.RP2040_FAMILY))
    assert cli.main(["flash", "--board", "rp2040", "--firmware", str(fw), "--drive",
                     str(tmp_path / "RPI-RP2"), "--dry-run"]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == f"cp {fw} {tmp_path / 'RPI-RP2'}/"
    assert "BOOTSEL" in out.err


def test_virtual_board_has_nothing_to_flash(tmp_path, capsys):
    fw = tmp_path / "x.bin"
    fw.write_bytes(b"x")
    assert cli.main(["flash", "--board", "unix", "--firmware", str(fw), "--dry-run"]) == 2
    assert "nothing to flash" in capsys.readouterr().err
