# Harness, what goes on a board: the board files, `microloop build` (.mpy per arch), the
# freeze manifest and the mip package.json (same version as the guard), a mip install on the
# virtual board, and the on-device gating example (agent_gate) on the unix port.
from __future__ import annotations

import json
import os
import subprocess
from types import SimpleNamespace

import pytest

import microloop_mpy
from microloop_tools import boards, build, cli, deploy, link, pkg, vboard
from microloop_tools.paths import FIRMWARE_DIR, ROOT, tool

# mpy feature byte: arch << 2 | sub-version, for .mpy files holding native (viper) code
MPY_ARCH = {"x64": 2, "armv6m": 4, "xtensawin": 10}


def test_board_files_hold_the_facts():
    assert set(boards.names()) >= {"esp32", "esp32s3", "rp2040", "unix"}
    esp32, s3, pico, unix = (boards.load(n) for n in ("esp32", "esp32s3", "rp2040", "unix"))
    assert (esp32.mpy_arch, s3.mpy_arch, pico.mpy_arch, unix.mpy_arch) == (
        "xtensawin", "xtensawin", "armv6m", "x64")
    assert (esp32.flash["method"], esp32.flash["offset"]) == ("esptool", "0x1000")
    assert (s3.flash["method"], s3.flash["offset"]) == ("esptool", "0x0")
    assert pico.flash["method"] == "uf2" and int(pico.flash["uf2_family_id"], 16) == 0xE48BFF56
    assert pico.flash["board_id"] == "RPI-RP2" and pico.flash["info_file"] == "INFO_UF2.TXT"
    assert unix.virtual and unix.heapsize
    assert (0x2E8A, 0x0005) in {(u.vid, u.pid) for u in pico.usb}
    assert (0x10C4, 0xEA60) in {(u.vid, u.pid) for u in esp32.usb}
    for b in (esp32, s3, pico, unix):
        assert 256 <= b.max_call_bytes <= 65536 and b.baud == 115200
    with pytest.raises(ValueError, match="unknown board"):
        boards.load("esp8266")


def test_detect_port_by_usb_id(monkeypatch):
    from serial.tools import list_ports

    ports = [SimpleNamespace(device="/dev/ttyACM0", vid=0x2E8A, pid=0x0005),
             SimpleNamespace(device="/dev/ttyUSB0", vid=0x10C4, pid=0xEA60),
             SimpleNamespace(device="/dev/ttyS0", vid=None, pid=None)]
    monkeypatch.setattr(list_ports, "comports", lambda: ports)
    assert boards.detect_port(boards.load("rp2040")) == "/dev/ttyACM0"
    assert boards.detect_port(boards.load("esp32")) == "/dev/ttyUSB0"
    ports.append(SimpleNamespace(device="/dev/ttyUSB1", vid=0x1A86, pid=0x7523))  # a CH340
    with pytest.raises(RuntimeError, match="several esp32 candidates"):
        boards.detect_port(boards.load("esp32"))
    del ports[:2]
    with pytest.raises(RuntimeError, match="no rp2040 found on USB .*2e8a:0005"):
        boards.detect_port(boards.load("rp2040"))


@pytest.mark.parametrize("board", ["unix", "esp32", "esp32s3", "rp2040"])
def test_build_compiles_for_the_boards_arch(board, tmp_path):
    r = build.build(board, tmp_path)
    out = r.out_dir
    assert out == tmp_path / board
    mpys = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.mpy"))
    assert "microloop_serve.mpy" in mpys and "agent_gate.mpy" in mpys
    assert "lib/microloop_mpy/guard.mpy" in mpys
    assert not any("_cpython" in m or "trajectory_demo" in m for m in mpys)  # host-only
    for m in mpys:
        head = (out / m).read_bytes()[:3]
        assert head[:2] == b"M\x06", m  # mpy v6
    viper = (out / "lib/microloop_mpy/_pass.mpy").read_bytes()
    assert viper[2] >> 2 == MPY_ARCH[boards.load(board).mpy_arch]  # native code for this arch
    assert (out / "main.py").read_text() == (FIRMWARE_DIR / "main.py").read_text()
    assert json.loads((out / "microloop_policy.json").read_text()) == {
        "max_call_bytes": boards.load(board).max_call_bytes}
    info = json.loads((out / "BUILD.json").read_text())
    assert info["mpy_arch"] == boards.load(board).mpy_arch and "mpy-cross" in info["mpy_cross"]


def test_manifest_freezes_every_device_module_with_the_guards_version():
    calls = []
    env = {
        "metadata": lambda **kw: calls.append(("metadata", kw)),
        "include": lambda p: calls.append(("include", p)),
        "package": lambda name, files=None, base_path=".", opt=None:
            calls.append(("package", name, tuple(files), base_path, opt)),
        "module": lambda name, base_path=".", opt=None: calls.append(("module", name, opt)),
    }
    cwd = os.getcwd()
    os.chdir(FIRMWARE_DIR)  # makemanifest runs a manifest from its own directory
    try:
        exec((FIRMWARE_DIR / "manifest.py").read_text(), env)
    finally:
        os.chdir(cwd)
    meta = [c for c in calls if c[0] == "metadata"][0][1]
    assert meta["version"] == microloop_mpy.__version__
    assert ("include", "$(PORT_DIR)/boards/manifest.py") in calls
    (_, name, files, base, opt), = [c for c in calls if c[0] == "package"]
    assert (name, base, opt) == ("microloop_mpy", "..", 3)
    assert set(files) == {p.name for p in build.core_sources()}
    assert ("module", "microloop_serve.py", 3) in calls and ("module", "agent_gate.py", 3) in calls
    for f in files:
        assert (ROOT / "microloop_mpy" / f).exists()


def firmware_version() -> str:
    """VERSION of firmware/microloop_serve.py, read from the source (importing it on CPython
    would work too, but the constant is what ships)."""
    text = (FIRMWARE_DIR / "microloop_serve.py").read_text()
    line = next(x for x in text.splitlines() if x.startswith("VERSION = "))
    return line.split("=", 1)[1].strip().strip('"')


def test_package_json_is_current_and_versions_agree():
    assert (ROOT / "package.json").read_text() == pkg.text(), \
        "package.json is stale: run `microloop package-json`"
    d = json.loads((ROOT / "package.json").read_text())
    assert d["version"] == microloop_mpy.__version__ == firmware_version()
    for dest, src in d["urls"]:
        assert (ROOT / src).is_file() and not dest.startswith("/")


def test_mip_install_from_package_json_on_the_virtual_board(tmp_path):
    b = vboard.VirtualBoard.from_board("unix", flash_dir=tmp_path / "flash")
    b.flash_dir.mkdir()
    b.start()
    try:
        p = deploy.mip_plan("unix", b.port, ROOT / "package.json")  # the repository's
        r = subprocess.run(p.argv, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        installed = {x.relative_to(b.flash_dir / "lib").as_posix()
                     for x in (b.flash_dir / "lib").rglob("*.py")}
        urls = json.loads((ROOT / "package.json").read_text())["urls"]
        assert installed == {dest for dest, _ in urls}
        # sources from mip serve exactly like the .mpy build
        r = subprocess.run([tool("mpremote"), "connect", b.port, "resume", "exec", "--no-follow",
                            "import microloop_serve; microloop_serve.serve()"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0
        with link.DeviceLink.open(b.port) as L:
            assert L.handshake().fw == microloop_mpy.__version__
            assert L.check(b'{"tool": "read_temp", "args": {}}').verdict == 0
    finally:
        b.stop()


def test_deploy_dry_run_for_a_real_board_resets_instead_of_resume(capsys):
    assert cli.main(["deploy", "--board", "esp32", "--port", "/dev/ttyUSB0", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "connect /dev/ttyUSB0 exec" in out and "resume" not in out
    assert out.rstrip().endswith("+ reset")
    assert ":lib/microloop_mpy/guard.mpy" in out and ":main.py" in out


def test_deploy_to_a_board_that_never_answers_stops_at_its_timeout(capsys):
    # a pty nobody serves: mpremote waits for a REPL that never comes; --timeout ends it with
    # one line and exit 3 (the device stopped answering), not a traceback
    master, slave = os.openpty()
    try:
        rc = cli.main(["deploy", "--board", "esp32", "--port", os.ttyname(slave),
                       "--timeout", "3"])
    finally:
        os.close(master)
        os.close(slave)
    err = capsys.readouterr().err
    assert rc == 3, err
    assert "did not finish in 3 s" in err and "--timeout" in err


def run_unix(code: str, stdin: bytes = b"") -> str:
    env = dict(os.environ, MICROPYPATH=f"{ROOT}:{FIRMWARE_DIR}")
    r = subprocess.run([vboard.micropython(), "-c", code], input=stdin, capture_output=True,
                       env=env, timeout=60)
    assert r.returncode == 0, (r.stdout + r.stderr).decode()
    return r.stdout.decode()


def test_agent_gate_demo_stops_the_stuck_agent_on_the_unix_port():
    out = run_unix("import agent_gate\ng = agent_gate.demo()\nprint('pins', g.tools.writes)")
    lines = out.splitlines()
    assert [ln.split()[1] for ln in lines[:6]] == ["ALLOW"] * 5 + ["BLOCK"]
    assert "cycling" in lines[5] and "not run" in lines[5]
    assert "agent stopped by the guard after 5 tool runs" in out
    assert "pins [(5, 1), (5, 1)]" in out  # the stub pin saw only the allowed writes


def test_agent_gate_runs_only_allowed_calls_from_the_host():
    calls = [
        b'{"tool": "set_pin", "args": {"pin": 2, "value": 1}}',
        b'{"tool": "set_pin", "args": {"pin": 2, "value": 1}}',
        b'{"tool": "set_pin", "args": {"pin": 2, "value": 1}}',  # identical: blocked
        b'{"tool": "read_pin", "args": {"pin": 2}}',
        b'{"tool": "format_flash", "args": {}}',  # not a tool here: ran, failed
        b'{"tool": "set_pin", "args": {"pin": 99, "value": 1}}',  # the tool raises
        b'{"tool": "set_pin", "args": {"pin": 3, "value": 1}, "arguments": {}}',  # malformed
    ]
    out = run_unix("import agent_gate\ng = agent_gate.serve()\nprint('pins', g.tools.writes)",
                   b"\n".join(calls) + b"\n")
    answers = [json.loads(x) for x in out.splitlines()[:-1]]
    assert [(a["verdict"] == 0, a["ran"], a["ok"]) for a in answers] == [
        (True, True, True), (True, True, True), (False, False, None), (True, True, True),
        (True, True, False), (True, True, False), (False, False, None)]
    assert answers[2]["text"].startswith("identical call")
    assert answers[3]["text"] == "pin 2 is 1"
    assert out.splitlines()[-1] == "pins [(2, 1), (2, 1)]"


def test_cli_delegates_check_policy_and_proxy(tmp_path, capsys):
    good = tmp_path / "p.json"
    good.write_text(json.dumps({"max_call_bytes": 4096, "tools": {"read_temp": {"exempt": True}}}))
    assert cli.main(["check-policy", str(good)]) == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"loops": {"identical": 1}}))
    assert cli.main(["check-policy", str(bad)]) == 2
    assert "identical" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # argparse --help of the proxy itself
        cli.main(["proxy", "--help"])
    assert e.value.code == 0 and "--timeout" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for sub in ("build", "flash", "deploy", "replay", "vboard", "check-policy", "proxy"):
        assert sub in out
