# Shared pytest fixtures for host_tests: the runtimes (CPython, MicroPython unix port, MicroPython
# wasm port) and a way to run code on them. Tests import the helpers as `from runtimes import ...`.
# Never skips: a missing runtime fails the test with a message saying to run `make venv`.
import sys
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # `import runtimes` whatever pytest's rootdir/import mode
    sys.path.insert(0, _HERE)

import runtimes  # noqa: E402


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return runtimes.ROOT


@pytest.fixture(scope="session")
def run_mp():
    """runtimes.run_mp(runtime, code_or_script, args=(), timeout=60, heapsize=None, mounts=())."""
    return runtimes.run_mp


@pytest.fixture(params=runtimes.RUNTIMES)
def runtime(request) -> str:
    """Each of cpython, unix, wasm; fails (does not skip) if that runtime is not installed."""
    _require(request.param)
    return request.param


@pytest.fixture(params=runtimes.MP_RUNTIMES)
def mp_runtime(request) -> str:
    """Each MicroPython runtime: unix (64-bit) and wasm (32-bit)."""
    _require(request.param)
    return request.param


def _require(name: str) -> None:
    try:
        runtimes.check_runtime(name)
    except runtimes.RuntimeMissing as e:
        pytest.fail(str(e), pytrace=False)


def pytest_addoption(parser):
    """Options of the on-device checks (host_tests/test_device.py; `make device-test`)."""
    g = parser.getgroup("microloop device checks")
    g.addoption("--device-port", default=None, metavar="PORT",
                help="serial port of a MicroPython board (or the emulated Pico's pty): runs "
                     "host_tests/test_device.py on it; without it those tests skip")
    g.addoption("--device-board", default="rp2040", metavar="NAME",
                help="board file in boards/ (mpy-cross arch, deploy/replay settings); "
                     "default rp2040")
    g.addoption("--device-install", default="both", choices=("py", "mpy", "both"),
                help="install path(s) to check: py (sources compiled on the device), mpy "
                     "(microloop build), or both (default)")
