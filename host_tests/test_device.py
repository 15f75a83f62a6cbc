"""The guard on a real device (issue 13): a MicroPython board, or the emulated Pico, on a serial
port given with --device-port (`make device-test PORT=/dev/ttyACM0 [BOARD=rp2040]`).

For each install path -- `py` (the sources copied as .py and compiled by the device, what
`mpremote cp` and `mip install` do) and `mpy` (`microloop build`, .mpy from mpy-cross) -- the
test installs the guard itself, then checks on the device:
  1. the install: lib/microloop_mpy/ holds exactly the guard's files of that kind;
  2. the native (viper) code equals its pure twin bit for bit: every host_tests/device/check_*.py
     (check_twin.py: the single pass against its twin and the reference scanner); VIPER 0, native
     code that did not load on that firmware, fails with the reason the device gave;
  3. heap_lock: every bundled trajectory, a 20-rule stream and a long stream on a small ring
     replayed with micropython.heap_lock() held around each check() and outcome(): no
     allocation, and the printed verdicts equal CPython's (host_tests/device/locked_replay.py);
  4. parity over the serial protocol: `microloop deploy` then `microloop replay` on the bundled
     trajectories exit 0 with parity on every step; the on-device timing is printed (-rA).
Without --device-port every test skips. CI cannot run these: no registry ships the firmware.
"""
from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from microloop_tools import deploy
from runtimes import ROOT, run_mp

NO_PORT = "no --device-port given: device checks need a board or the emulated Pico, see README"
TRAJ_DIR = ROOT / "host_tests" / "trajectories"
DEVICE_DIR = ROOT / "host_tests" / "device"
LOCKED_MODULE = ROOT / "host_tests" / "mp_locked_replay.py"
# native code against its pure twin: every host_tests/device/check_*.py; each ends with
# "CHECKED <n> MISMATCH <m> VIPER|NATIVE <0|1>" and may take `N` (prepended by the host)
CHECK_SCRIPTS = sorted(p.name for p in DEVICE_DIR.glob("check_*.py"))
CHECK_N = {"check_twin.py": 300}  # random cases; a script not named here runs its default
LONG_STEPS = 800  # the long stream of mp_locked_replay (16-entry ring: 50 wraps)
STAGE = "ml_check"  # the device directory holding the heap_lock driver and trajectories
LIB = "lib/microloop_mpy"
# mpremote steps can be slow: the emulated Pico runs at 0.05-0.3x real speed
T_INSTALL, T_RUN, T_REPLAY = 900, 1800, 3600
REPLAY_ANSWER_TIMEOUT = 60.0  # seconds per device answer (also the HELLO wait after a reset)

PREP_LIB = deploy.MKDIRS + (  # the deploy's own folders, then no old guard file in them
    "for f in os.listdir('lib/microloop_mpy'):\n"
    "    if f.endswith('.py') or f.endswith('.mpy'):\n"
    "        os.remove('lib/microloop_mpy/' + f)\n"
)
DROP_MPY = (
    "import os\n"
    "for f in os.listdir('lib/microloop_mpy'):\n"
    "    if f.endswith('.mpy'):\n"
    "        os.remove('lib/microloop_mpy/' + f)\n"
)
LIST_LIB = "import os\nprint('FILES', ' '.join(sorted(os.listdir('lib/microloop_mpy'))))\n"
FW_INFO = "import sys, os\nprint('FW', os.uname().machine, '|', sys.version)\n"


@dataclass(frozen=True)
class Device:
    port: str
    board: str
    mpy_arch: str


@dataclass(frozen=True)
class Installed:
    device: Device
    kind: str  # "py" or "mpy"
    files: tuple[str, ...]  # what lib/microloop_mpy/ must hold
    firmware: str


def pytest_generate_tests(metafunc):
    if "installed" in metafunc.fixturenames:
        choice = metafunc.config.getoption("device_install")
        kinds = ["py", "mpy"] if choice == "both" else [choice]
        metafunc.parametrize("installed", kinds, indirect=True, scope="module")


# ---- helpers --------------------------------------------------------------------------------
def mpremote(dev: Device, *args: str, timeout: float, check: bool = True
             ) -> subprocess.CompletedProcess:
    """Runs `mpremote connect PORT ARGS...`; fails the test on a timeout or (check) an error."""
    from microloop_tools.paths import tool

    argv = [tool("mpremote"), "connect", dev.port, *args]
    try:
        r = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"mpremote {args[0]} on {dev.port} did not finish within {timeout}s",
                    pytrace=False)
    r = subprocess.CompletedProcess(argv, r.returncode, _text(r.stdout), _text(r.stderr))
    if check and r.returncode != 0:
        pytest.fail(f"mpremote {' '.join(args[:2])} failed ({r.returncode}) on {dev.port}:\n"
                    f"{_tail(r.stdout)}{_tail(r.stderr)}", pytrace=False)
    return r


def _text(b: bytes | None) -> str:
    return (b or b"").decode("utf-8", "replace").replace("\r\n", "\n")


def _tail(s: str, n: int = 25) -> str:
    lines = s.splitlines()
    return "\n".join(lines[-n:]) + ("\n" if lines else "")


def copy_args(pairs: list[tuple[Path, str]]) -> list[str]:
    """mpremote arguments copying each local file to its device path, chained with '+'."""
    out: list[str] = []
    for src, dst in pairs:
        out += ["+", "fs", "cp", str(src), f":{dst}"]
    return out


def lib_files(dev: Device) -> list[str]:
    out = mpremote(dev, "exec", LIST_LIB, timeout=T_INSTALL).stdout
    line = [x for x in out.splitlines() if x.startswith("FILES")]
    assert line, f"no listing of {LIB} from the device:\n{out}"
    return line[-1].split()[1:]


def run_on_device(dev: Device, script: Path, timeout: float = T_RUN) -> list[str]:
    """`mpremote run` (a soft reset first: no module cached from earlier); stdout lines."""
    r = mpremote(dev, "run", str(script), timeout=timeout)
    return [x.rstrip() for x in r.stdout.splitlines()]


def prefixed(tmp: Path, src: Path, header: str) -> Path:
    """A copy of `src` with `header` (settings such as `N = 300`) in front."""
    dst = tmp / src.name
    dst.write_text(header + "\n" + src.read_text(encoding="utf-8"), encoding="utf-8")
    return dst


def percentile(xs: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0 for no samples."""
    if not xs:
        return 0.0
    s = sorted(xs)
    k = max(0, min(len(s) - 1, -(-int(q * len(s)) // 100) - 1))
    return float(s[k])


# ---- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def device(request) -> Device:
    port = request.config.getoption("device_port")
    if not port:
        pytest.skip(NO_PORT)
    from microloop_tools import boards

    name = request.config.getoption("device_board")
    try:
        b = boards.load(name)
    except ValueError as e:
        pytest.fail(f"--device-board: {e}", pytrace=False)
    if b.virtual:
        pytest.fail(f"--device-board {name}: the virtual board is checked by the unix-port "
                    "tests; give a real board's name (e.g. rp2040)", pytrace=False)
    if port.startswith("/") and not Path(port).exists():  # a device path (COM3 is not one)
        pytest.fail(f"--device-port {port}: no such serial port", pytrace=False)
    return Device(port, b.name, b.mpy_arch)


@pytest.fixture(scope="module")
def installed(request, device, tmp_path_factory) -> Installed:
    """Installs the guard by request.param ("py" or "mpy") after removing every old guard
    file (.py and .mpy), then soft-resets."""
    from microloop_tools.build import build, core_sources

    kind = request.param
    if kind == "py":
        srcs = core_sources()
    else:
        out = build(device.board, tmp_path_factory.mktemp(f"build-{device.board}")).out_dir
        srcs = sorted((out / "lib" / "microloop_mpy").glob("*.mpy"))
    assert srcs, f"nothing to install for the {kind} path"
    t0 = time.monotonic()
    mpremote(device, "exec", PREP_LIB, *copy_args([(p, f"{LIB}/{p.name}") for p in srcs]),
             "+", "soft-reset", timeout=T_INSTALL)
    info = mpremote(device, "exec", FW_INFO, timeout=T_INSTALL).stdout
    fw = next((x[3:] for x in info.splitlines() if x.startswith("FW ")), "?")
    print(f"[{kind}] installed {len(srcs)} files in {time.monotonic() - t0:.0f} s wall on "
          f"{device.port}: {fw}")
    return Installed(device, kind, tuple(sorted(p.name for p in srcs)), fw)


@pytest.fixture(scope="session")
def staged(device) -> list[str]:
    """mp_locked_replay.py and every bundled trajectory copied to the device's ml_check/
    (once a session); returns the trajectory paths relative to that directory."""
    trajs = sorted(TRAJ_DIR.glob("*.jsonl"))
    mkdirs = ("import os\nfor d in ('%s', '%s/trajectories'):\n    try:\n        os.mkdir(d)\n"
              "    except OSError:\n        pass\n" % (STAGE, STAGE))
    pairs = [(LOCKED_MODULE, f"{STAGE}/mp_locked_replay.py")]
    pairs += [(p, f"{STAGE}/trajectories/{p.name}") for p in trajs]
    mpremote(device, "exec", mkdirs, *copy_args(pairs), timeout=T_INSTALL)
    return [f"trajectories/{p.name}" for p in trajs]


# ---- the checks, in order, for each install path -----------------------------------------------
def test_install_holds_only_the_guard_files(installed):
    want = list(installed.files)
    got = lib_files(installed.device)
    assert got == want, f"{LIB} on the device after the {installed.kind} install: {got}"
    assert all(f.endswith("." + installed.kind) for f in got)


@pytest.mark.parametrize("check", CHECK_SCRIPTS)
def test_viper_equals_twin_on_device(installed, check, tmp_path):
    n = CHECK_N.get(check)
    script = prefixed(tmp_path, DEVICE_DIR / check, f"N = {n}" if n else "")
    t0 = time.monotonic()
    lines = run_on_device(installed.device, script)
    wall = time.monotonic() - t0
    last = lines[-1] if lines else ""
    print(f"[{installed.kind}] {check} N={n or 'default'}: {last} ({wall:.0f} s wall)")
    parts = last.split()
    if len(parts) != 6 or parts[0] != "CHECKED" or parts[2] != "MISMATCH" \
            or parts[4] not in ("VIPER", "NATIVE"):
        pytest.fail(f"[{installed.kind}] {check} ended without its CHECKED line:\n"
                    + "\n".join(lines[-20:]), pytrace=False)
    if parts[3] != "0":
        detail = [x for x in lines[:-1] if not x.startswith("NO")][:12]
        pytest.fail(f"[{installed.kind}] {check}: {parts[3]} of {parts[1]} cases differ between "
                    f"the native code and its twin on {installed.firmware}:\n"
                    + "\n".join(detail), pytrace=False)
    if parts[5] != "1":
        why = [x for x in lines if x.startswith("NOVIPER") or x.startswith("NONATIVE")]
        pytest.fail(f"[{installed.kind}] {check}: the native code did not load on "
                    f"{installed.firmware}, only the twin ran: "
                    + (why[0] if why else "(the script printed no reason)"), pytrace=False)
    assert last.endswith(" 1") and " MISMATCH 0 " in last


def test_heap_lock_replay_allocates_nothing(installed, staged, tmp_path):
    files = repr(staged)
    dev_script = prefixed(tmp_path, DEVICE_DIR / "locked_replay.py",
                          f"DIR = '/{STAGE}'\nFILES = {files}\nLONG_STEPS = {LONG_STEPS}")
    ref_dir = tmp_path / "cpython"
    ref_dir.mkdir()
    ref_script = prefixed(ref_dir, DEVICE_DIR / "locked_replay.py",
                          f"DIR = {str(ROOT / 'host_tests')!r}\nFILES = {files}\n"
                          f"LONG_STEPS = {LONG_STEPS}")
    want = [x.rstrip() for x in run_mp("cpython", ref_script, timeout=300).splitlines()]
    t0 = time.monotonic()
    got = run_on_device(installed.device, dev_script)
    wall = time.monotonic() - t0
    # the guard's own notice at import (e.g. "native pass not compiled here") is no verdict
    notes = [x for x in got if x.startswith("microloop_mpy:")]
    got = [x for x in got if not x.startswith("microloop_mpy:")]
    for x in notes:
        print(f"[{installed.kind}] device said: {x}")
    fails = got[-1] if got else ""
    skipped = sum(1 for x in got if x.startswith("SKIP"))
    steps = sum(1 for x in got if x.startswith("{"))
    print(f"[{installed.kind}] heap_lock replay: {len(staged)} trajectories ({skipped} skipped: "
          f"CPython-only policies), {steps} steps, RULES20, LONG {LONG_STEPS}: {fails} "
          f"({wall:.0f} s wall)")
    assert fails == "FAILS 0 0", (f"[{installed.kind}] allocations under heap_lock (or internal "
                                  f"errors) on {installed.firmware}: {fails!r}\n"
                                  + "\n".join(got[-10:]))
    assert want[-1] == "FAILS 0 0", want[-1]
    if got != want:
        i = next((k for k in range(min(len(got), len(want))) if got[k] != want[k]),
                 min(len(got), len(want)))
        pytest.fail(f"[{installed.kind}] the locked replay on the device differs from CPython "
                    f"at line {i + 1} of {len(want)}:\n  device:  {got[i] if i < len(got) else '<end>'}"
                    f"\n  CPython: {want[i] if i < len(want) else '<end>'}", pytrace=False)


def test_serial_replay_parity(installed, tmp_path):
    dev = installed.device
    from microloop_tools.paths import tool

    cli = tool("microloop")
    t0 = time.monotonic()
    deploy = [cli, "deploy", "--board", dev.board, "--port", dev.port]
    if installed.kind == "py":
        deploy.append("--no-start")  # the .mpy guard files are replaced by the sources first
    r = subprocess.run(deploy, capture_output=True, text=True, timeout=T_INSTALL)
    assert r.returncode == 0, f"{' '.join(deploy[1:])} failed ({r.returncode}):\n{r.stdout}{r.stderr}"
    if installed.kind == "py":
        # deploy copied .mpy guard files next to the sources: drop them, then boot main.py
        mpremote(dev, "exec", DROP_MPY, timeout=T_INSTALL)
        assert lib_files(dev) == list(installed.files)
        mpremote(dev, "reset", timeout=T_INSTALL)
    t1 = time.monotonic()
    report = tmp_path / "replay.jsonl"
    replay = [cli, "replay", "--board", dev.board, "--port", dev.port, "--report", str(report),
              "--no-progress", "--timeout", str(REPLAY_ANSWER_TIMEOUT)]
    r = subprocess.run(replay, capture_output=True, text=True, timeout=T_REPLAY)
    t2 = time.monotonic()
    print(r.stdout)
    recs = [json.loads(x) for x in report.read_text().splitlines() if x.strip()] \
        if report.exists() else []
    summary = _timing_summary(installed.kind, recs)
    print(summary + f" (deploy {t1 - t0:.0f} s, replay {t2 - t1:.0f} s wall)")
    assert r.returncode == 0, (f"[{installed.kind}] microloop replay exited {r.returncode} on "
                               f"{installed.firmware}:\n{_tail(r.stderr)}"
                               + _parity_failures(recs))
    done = {Path(x["file"]).name for x in recs if x.get("type") == "traj_done"}
    missing = sorted(p.name for p in TRAJ_DIR.glob("*.jsonl") if p.name not in done)
    assert not missing, f"[{installed.kind}] trajectories not finished by the replay: {missing}"
    assert not [x for x in recs if x.get("type") == "error"], _tail(r.stderr)
    steps = [x for x in recs if x.get("type") == "step"]
    assert steps, "the replay report holds no step"
    bad = _parity_failures(recs)
    assert not bad, f"[{installed.kind}] parity differences on {installed.firmware}:" + bad


def _parity_failures(recs: list[dict], limit: int = 10) -> str:
    bad = [x for x in recs if x.get("type") == "step" and not x.get("parity", True)]
    lines = [f"\n  {x['traj']} step {x['step']}: device {x.get('dev', x.get('dev_err'))} "
             f"CPython {x.get('cpy')}" for x in bad[:limit]]
    return "".join(lines) + (f"\n  ... {len(bad) - limit} more" if len(bad) > limit else "")


def _timing_summary(kind: str, recs: list[dict]) -> str:
    """One line: the on-device µs of check() and outcome() and the round trip the replay
    measured (device clock for µs)."""
    steps = [x for x in recs if x.get("type") == "step" and x.get("kind") == "call"]
    us = [x["us"] for x in steps if "us" in x]
    out = [x["out_us"] for x in steps if "out_us" in x]
    rt = [x["rt_ms"] for x in steps if "rt_ms" in x]
    run = next((x for x in recs if x.get("type") == "run"), {})
    return (f"[{kind}] replay timing on {run.get('platform', '?')} ({run.get('impl', '?')}): "
            f"check() {len(us)} calls, µs p50 {percentile(us, 50):.0f} p99 "
            f"{percentile(us, 99):.0f} max {max(us, default=0)}; outcome() µs p50 "
            f"{percentile(out, 50):.0f} p99 {percentile(out, 99):.0f}; round trip ms p50 "
            f"{percentile(rt, 50):.1f} p99 {percentile(rt, 99):.1f}")
