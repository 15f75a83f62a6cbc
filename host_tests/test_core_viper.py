# The single-pass scanner: native code (_pass.py, viper) against its pure twin (_pass_twin.py)
# and the reference scanner (scan.py), bit for bit, with host_tests/device/check_twin.py -- the
# same script `make device-test` runs on a board. Here: the unix port (x64 native code) and the
# wasm port (no viper: twin against reference); the twin is generated from the viper source.
import sys
import zlib
from array import array
from pathlib import Path

from runtimes import ROOT, run_mp

CHECK = ROOT / "host_tests" / "device" / "check_twin.py"


def _last(out):
    words = out.strip().splitlines()[-1].split()
    assert words[0] == "CHECKED", out
    return int(words[1]), int(words[3]), int(words[5])


def test_viper_pass_matches_twin_and_reference_on_the_unix_port():
    cases, bad, viper = _last(run_mp("unix", "N = 1500\n" + CHECK.read_text(), timeout=240))
    assert viper == 1  # the native pass really compiled there
    assert cases > 1800
    assert bad == 0


def test_wasm_port_uses_the_reference_scanner():
    out = run_mp("wasm", "N = 200\n" + CHECK.read_text() + "from microloop_mpy._compat import "
                 "PASS_SCAN\nprint('PASS', PASS_SCAN is None)\n", timeout=240)
    assert out.strip().splitlines()[-1] == "PASS True"
    cases, bad, viper = _last("\n".join(out.strip().splitlines()[:-1]))
    assert viper == 0 and bad == 0 and cases > 250


def test_twin_is_generated_from_the_viper_source():
    sys.path.insert(0, str(ROOT))
    from tools.gen_twin import generate

    assert generate(check=True) == [], "run: python tools/gen_twin.py"


def test_crc_span16_equals_zlib():
    from microloop_mpy._pass_twin import crc_span16
    from microloop_mpy.crc import T32

    data = bytes(range(256)) * 3
    st = array("H", [0xFFFF, 0xFFFF])
    assert crc_span16(data, 0, len(data), st, T32) == len(data)
    assert ((st[0] << 16) | st[1]) ^ 0xFFFFFFFF == zlib.crc32(data)


def test_twin_crc_equals_zlib():
    from microloop_mpy import _twin
    from microloop_mpy.crc import tables16

    TLO, THI = tables16()

    data = bytes(range(256)) * 3
    st = array("H", [0xFFFF, 0xFFFF])
    _twin.crc_span(data, 0, len(data), st, TLO, THI)
    assert ((st[0] << 16) | st[1]) ^ 0xFFFFFFFF == zlib.crc32(data)


def test_native_history_step_matches_history_methods_on_the_unix_port():
    script = ROOT / "host_tests" / "device" / "check_hist.py"
    out = run_mp("unix", "N = 300\n" + script.read_text(), timeout=240)
    words = out.strip().splitlines()[-1].split()
    assert words[0] == "CHECKED" and words[5] == "1", out  # the native step compiled
    assert int(words[1]) >= 3000
    assert words[3] == "0", out


def test_cpython_and_wasm_run_the_history_methods():
    out = run_mp("wasm", "from microloop_mpy._compat import HIST_STEP\nprint(HIST_STEP)\n")
    assert out.strip() == "None"
