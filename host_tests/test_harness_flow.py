# Harness, flow control (issue 13, section 4): the serial protocol never loses a byte to a host
# faster than the device. On the virtual board the server runs behind a console whose input is
# capped like the ESP32's UART REPL (host_tests/mp_capped_serve.py: a ring that drops what does
# not fit, filled only while the device is not busy elsewhere); the host writes as fast as the
# protocol lets it. Over several KB of policy, large calls and large outcomes every byte the
# host wrote must reach the device, every CRC must hold and every verdict must equal CPython's.
# The same session with flow control switched off on the host (each frame written at once)
# must fail that check: that is what proves the check can fail.
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from microloop_mpy import Guard
from flow_workload import sized_call, workload
from microloop_tools import boards, build, link, vboard

HERE = Path(__file__).resolve().parent
ESP32_RING = 259  # bytes the ESP32's UART REPL ring holds (260-byte array), measured in issue 13


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return build.build("unix", tmp_path_factory.mktemp("build")).out_dir


def capped_board(built: Path, tmp: Path, cap: int, busy_ms: list[int],
                 timeout_ms: int = 400) -> vboard.VirtualBoard:
    """A virtual board whose main.py serves behind a CappedConsole of `cap` bytes."""
    flash = tmp / "flash"
    shutil.copytree(built, flash)
    shutil.copy(HERE / "mp_capped_serve.py", flash / "mp_capped_serve.py")
    (flash / "capped.json").write_text(json.dumps(
        {"cap": cap, "busy_ms": busy_ms, "timeout_ms": timeout_ms}))
    (flash / "main.py").write_text("import mp_capped_serve\nmp_capped_serve.run()\n")
    # the workload's buffer size from the start: the 256 KB heap holds one 16 KB buffer and a
    # 120-rule guard, not the board's 64 KB preset next to them
    (flash / "microloop_policy.json").write_text('{"max_call_bytes": 16384}')
    return vboard.VirtualBoard.from_board("unix", flash_dir=flash)


@dataclass
class Session:
    window: int
    cap: int
    tx_bytes: int = 0  # what the host wrote
    payload_bytes: int = 0  # payload bytes in the frames that were answered OK
    device: dict = field(default_factory=dict)  # capped_result.json
    errors: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_session(vb: vboard.VirtualBoard, window: int, flow: bool, max_errors: int = 1) -> Session:
    """The workload over a capped console; errors are recorded, not raised (the link is
    re-synchronised by a handshake after each), up to max_errors."""
    policy, pairs = workload()
    ref = Guard(policy)
    s = Session(window=window, cap=0)
    with link.DeviceLink.open(vb.port, timeout=2.0, window=window) as L:
        L.flow = flow
        L.handshake()
        t0 = time.perf_counter()

        def attempt(fn, *a) -> object:
            try:
                return fn(*a)
            except link.LinkError as e:  # DeviceTimeout included
                s.errors.append(str(e))
                L.handshake()
                return None

        if attempt(L.load_policy, policy) is not None:
            s.payload_bytes += len(json.dumps(policy))
        for call, result in pairs:
            if len(s.errors) >= max_errors:
                break
            a = attempt(L.check, call)
            if a is None:
                continue
            s.payload_bytes += len(call)
            want = ref.check(call)
            if (a.verdict, a.hash) != (want, ref.last_hash_hex() or "-"):
                s.mismatches.append(f"{len(call)}-byte call: device {a.verdict} {a.hash}, "
                                    f"CPython {want} {ref.last_hash_hex()}")
            if attempt(L.outcome, True, result) is not None:
                s.payload_bytes += len(result)
                ref.outcome(True, result, 0, len(result), None)
        s.seconds = time.perf_counter() - t0
        L.bye()
        s.tx_bytes = L.tx_bytes
    out = vb.flash_dir / "capped_result.json"
    end = time.monotonic() + 5
    while True:  # the device may be part way through writing it: wait for whole JSON
        try:
            s.device = json.loads(out.read_text())
            break
        except (OSError, ValueError):
            if time.monotonic() >= end:
                raise
            time.sleep(0.05)
    s.cap = s.device["cap"]
    return s


def assert_lossless(s: Session) -> None:
    d = s.device
    assert not s.errors, f"requests failed: {s.errors}"
    assert d["dropped"] == 0, f"{d['dropped']} bytes dropped by the {s.cap}-byte ring"
    assert d["received"] == s.tx_bytes, "bytes written by the host never reached the device"
    assert d["taken"] == d["received"], "the server left bytes unread"
    assert d["high"] <= s.window, "more than the window was in flight"
    assert not s.mismatches, s.mismatches


@pytest.mark.parametrize("board,cap", [(None, link.WIN_MIN), ("esp32", ESP32_RING)])
def test_no_byte_is_lost_behind_a_capped_ring(built, tmp_path, board, cap):
    # the protocol's smallest window behind a ring exactly that large; the ESP32's window
    # (boards/esp32.json) behind the ESP32's ring
    window = boards.load(board).serial_window if board else link.WIN_MIN
    with capped_board(built, tmp_path, cap, busy_ms=[0, 1, 3, 0, 2]) as vb:
        s = run_session(vb, window, flow=True)
    assert_lossless(s)
    assert s.payload_bytes > 70_000 and s.device["rx_bytes"] == s.payload_bytes
    print(f"\n{board or 'smallest window'}: window {window}, ring {cap}: {s.tx_bytes} B written, "
          f"{s.device['received']} received, {s.device['dropped']} dropped, "
          f"ring high-water {s.device['high']}; payload {s.payload_bytes / s.seconds / 1024:.0f} KB/s")


def test_the_same_check_fails_with_flow_control_off(built, tmp_path):
    window = link.WIN_MIN
    with capped_board(built, tmp_path, window, busy_ms=[0, 1, 3, 0, 2]) as vb:
        s = run_session(vb, window, flow=False)
    with pytest.raises(AssertionError):
        assert_lossless(s)
    assert s.device["dropped"] > 0 and s.errors
    print(f"\nflow control off: {s.tx_bytes} B written, {s.device['dropped']} dropped, "
          f"{len(s.errors)} requests failed: {s.errors[0][:80]}")


def test_frames_on_window_and_grant_boundaries(built, tmp_path):
    # header + payload of exactly the window, a grant multiple, and one byte either side: an
    # off-by-one in the credit shows as a stall (timeout) or a byte the ring dropped
    window = link.WIN_MIN
    ref = Guard({"max_call_bytes": 4096})
    totals = [t + d for t in (window, 2 * link.GRANT + window, 5 * link.GRANT) for d in (-1, 0, 1)]
    with capped_board(built, tmp_path, window, busy_ms=[2, 0, 3]) as vb:
        with link.DeviceLink.open(vb.port, timeout=2.0, window=window) as L:
            L.handshake()
            L.load_policy({"max_call_bytes": 4096})
            for total in totals:
                seq, call = sized_call(total)
                L._seq = seq - 1  # the next request's seq
                assert L.check(call).verdict == ref.check(call), total
            L.bye()
            sent = L.tx_bytes
        out = vb.flash_dir / "capped_result.json"
        end = time.monotonic() + 5
        while not out.exists() and time.monotonic() < end:
            time.sleep(0.05)
        d = json.loads(out.read_text())
    assert d["dropped"] == 0 and d["received"] == sent and d["high"] <= window


class _OldDevice:
    """A pyserial stand-in answering HELLO like a protocol-1 board (no window, no grants)."""

    def __init__(self) -> None:
        self.out = b""

    @property
    def in_waiting(self) -> int:
        return len(self.out)

    def write(self, data: bytes) -> int:
        for line in data.split(b"\n"):
            f = line.split(b" ")
            if len(f) >= 2 and f[1] == b"HELLO":
                self.out += f[0] + (b" OK HELLO proto=1 fw=0.1.0 impl=micropython platform=rp2 "
                                    b"buf=8193 max_call_bytes=8192 crc=1 timeout_ms=1000\n")
        return len(data)

    def read(self, n: int = 1) -> bytes:
        data, self.out = self.out[:n], self.out[n:]
        return data

    def flush(self) -> None:
        pass

    def reset_input_buffer(self) -> None:
        self.out = b""


def test_a_protocol_1_device_is_a_clear_error():
    L = link.DeviceLink(ser=_OldDevice(), port="/dev/ttyACM9")
    with pytest.raises(link.LinkError) as e:
        L.handshake(timeout=2.0)
    assert str(e.value).startswith("/dev/ttyACM9: the device speaks serial protocol 1, this "
                                   "harness 2: deploy the matching firmware")


def test_a_window_below_the_protocol_minimum_is_refused(tmp_path):
    with pytest.raises(ValueError, match="below the protocol's minimum 128"):
        link.DeviceLink(ser=_OldDevice(), window=64)
    (tmp_path / "tiny.json").write_text(json.dumps({
        "name": "tiny", "chip": "x", "micropython_port": "x", "mpy_arch": "armv6m",
        "max_call_bytes": 1024, "serial_window": 100}))
    with pytest.raises(ValueError, match="serial_window must be an integer >= 128"):
        boards.load("tiny", boards_dir=tmp_path)
    assert all(boards.load(n).serial_window >= link.WIN_MIN for n in boards.names())


HEAP_SCRIPT = r'''
import io, sys, micropython
import microloop_serve
from binascii import crc32

class Sink:
    def write(self, b, n=-1):
        return n

def frame(seq, payload):
    return b"%d OUTCOME %d %08x 1 -\n" % (seq, len(payload), crc32(payload)) + payload

body = bytes(range(256)) * 8  # 2048 bytes: every chunk view is kept
data = frame(1, body) + frame(2, body)
srv = microloop_serve.Server({"max_call_bytes": 4096}, inp=io.BytesIO(data), out=Sink(),
                             wait=lambda ms: True)
print("first", srv.step())  # makes the chunk views
n = srv._line()
srv._split(n)
ln = srv._num(2)
micropython.heap_lock()
try:
    r = srv._payload(ln)
    ok = True
except MemoryError:
    ok = False
micropython.heap_unlock()
print("payload", r if ok else "ALLOCATED", bytes(srv.mv[0:ln]) == body)
'''


def test_reading_a_payload_allocates_nothing_once_its_views_exist(built, tmp_path):
    # a 2 KB payload read behind micropython.heap_lock(): chunks, grants and waits included
    script = tmp_path / "heap.py"
    script.write_text(HEAP_SCRIPT)
    import os
    import subprocess

    env = dict(os.environ, MICROPYPATH=f"{built}:{built / 'lib'}")
    r = subprocess.run([vboard.micropython(), str(script)], cwd=built, env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.split("\n")[:2] == ["first True", "payload 2048 True"], r.stdout


def _serve_module():
    import importlib
    import sys as _sys

    fw = str(Path(__file__).resolve().parents[1] / "firmware")
    if fw not in _sys.path:
        _sys.path.insert(0, fw)
    return importlib.import_module("microloop_serve")


def _cpython_server(ms):
    import io

    class Sink:
        def write(self, b, n=-1):
            return len(b)

        def flush(self):
            pass

    return ms.Server({"max_call_bytes": 4096}, inp=io.BytesIO(b""), out=Sink(),
                     wait=lambda ms_: True)


def test_a_policy_install_takes_the_receive_buffer_before_the_guard(monkeypatch):
    # the buffer is the one large contiguous block: taken first, while the heap is least cut
    # up (a 120-rule guard built first left no 16 KB hole in 140 KB free on the Pico)
    ms = _serve_module()
    srv = _cpython_server(ms)
    events = []
    real_guard, real_set_buf = ms.Guard, ms.Server._set_buf

    def guard(*a, **k):
        events.append("guard")
        return real_guard(*a, **k)

    def set_buf(self, size):
        events.append(size)
        return real_set_buf(self, size)

    monkeypatch.setattr(ms, "Guard", guard)
    monkeypatch.setattr(ms.Server, "_set_buf", set_buf)
    policy = {"max_call_bytes": 16384,
              "rules": [{"tool": "tool_%03d" % i, "count": 5, "per_s": 60} for i in range(120)]}
    srv._install(policy)
    assert events == [16385, "guard"]
    assert srv.bufsize == 16385 and srv.guard is not None and srv.policy is policy
    events.clear()
    srv._install(None)  # the guard's default max_call_bytes
    assert events == [65537, "guard"] and srv.bufsize == 65537


def test_a_refused_or_too_large_policy_leaves_the_old_guard_and_buffer(monkeypatch):
    ms = _serve_module()
    srv = _cpython_server(ms)
    old_guard, old_size = srv.guard, srv.bufsize
    assert old_size == 4097
    with pytest.raises(ValueError):
        srv._install({"max_call_bytes": 2048, "no_such_key": 1})
    assert srv.guard is old_guard and srv.bufsize == old_size and len(srv.buf) == old_size
    # refused before any buffer is taken: a POLICY error, not NOMEM, however large it asks
    with pytest.raises(ValueError):
        srv._install({"max_call_bytes": 1 << 40, "no_such_key": 1})
    assert srv.guard is old_guard and srv.bufsize == old_size and len(srv.buf) == old_size

    def no_memory(*a, **k):
        raise MemoryError

    monkeypatch.setattr(ms, "Guard", no_memory)
    with pytest.raises(MemoryError):
        srv._install({"max_call_bytes": 8192})
    assert srv.guard is old_guard and srv.bufsize == old_size and len(srv.buf) == old_size
    assert srv.check == old_guard.check
