# Harness, the serial path: the device side (firmware/microloop_serve.py) on the virtual board
# (MicroPython unix port on a pty), driven with pyserial through microloop_tools.link.
# Every fault here must end in one error line and a device that keeps serving: garbage, an
# over-long header, a header or payload cut short (inter-byte timeout), a bad CRC, an unknown
# command, a refused policy; a suspended device gives a clear timeout and recovers; Ctrl-C
# outside a payload hands the console to mpremote.
from __future__ import annotations

import os
import subprocess
import time
import zlib
from pathlib import Path

import pytest

from microloop_tools import build, link, vboard
from microloop_tools.paths import tool

CALL = b'{"tool": "set_relay", "args": {"relay": 1, "state": "on"}}'


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return build.build("unix", tmp_path_factory.mktemp("build")).out_dir


@pytest.fixture
def vb(built):
    b = vboard.VirtualBoard.from_board("unix", populate_from=built)
    b.start()
    yield b
    b.stop()


@pytest.fixture
def dev(vb):
    with link.DeviceLink.open(vb.port, timeout=3.0) as L:
        L.handshake()
        yield L


def raw(L: link.DeviceLink, data: bytes) -> None:
    L.ser.write(data)
    L.ser.flush()


def next_line(L: link.DeviceLink, timeout: float = 3.0) -> str:
    line = L._readline(time.monotonic() + timeout)
    assert line is not None, "device said nothing"
    return line


def test_handshake_reports_the_board(dev):
    h = dev.hello
    assert h.proto == link.PROTO and h.impl == "micropython" and h.platform == "linux"
    # boards/unix.json preset: max_call_bytes 65536, the receive buffer one more
    assert h.max_call_bytes == 65536 and h.buf == 65537 and h.crc


def test_check_outcome_stats_reset(dev):
    dev.load_policy({"max_call_bytes": 1024}, t_ms=0, fresh=True)
    verdicts = []
    for _ in range(3):
        a = dev.check(CALL)
        verdicts.append(a.verdict)
        assert a.us >= 0 and len(a.hash) == 8 and a.rt_ms > 0
        dev.outcome(True, b"relay 1 on")
    assert verdicts == [0, 0, 1]  # identical call, identical outcome: 3rd blocked
    assert "identical" in dev.check(CALL).reason
    st = dev.stats()
    assert st["checks"] == 4 and st["blocked"] == 2 and st["outcomes"] == 3
    assert st["buf"] == 1025 and 0 < st["mem_free"] and 0 < st["mem_alloc"]
    dev.reset()
    assert dev.check(CALL).verdict == 0  # history forgotten


def test_garbage_and_long_lines_get_one_error_each_and_serving_goes_on(dev):
    raw(dev, b"this is not a frame\n")
    assert next_line(dev) == "- ERR GARBAGE expected <seq> <CMD> <len> <crc> [args]"
    raw(dev, b"A" * 5000 + b"\n")  # far longer than the 96-byte header buffer
    assert next_line(dev).startswith("- ERR LONGLINE")
    raw(dev, bytes(b for b in range(4, 256) if b != 10) + b"\n")  # all but Ctrl-C and "\n"
    assert next_line(dev).startswith("- ERR LONGLINE")
    raw(dev, b"7 FROB 0 -\n")
    assert next_line(dev) == "7 ERR UNKNOWN unknown command"
    raw(dev, b"8 CHECK 2 deadbeef\n{}")
    assert next_line(dev) == "8 ERR CRC payload CRC-32 mismatch, frame dropped"
    raw(dev, b"9 CHECK x -\n")
    assert next_line(dev).startswith("9 ERR GARBAGE")
    assert dev.check(CALL).verdict == 0
    assert dev.stats()["errors"] == 6


def test_partial_header_and_partial_payload_time_out(dev):
    raw(dev, b"12 CHE")  # then silence: the 1 s inter-byte timeout ends it
    t0 = time.monotonic()
    assert next_line(dev) == "- ERR TIMEOUT partial header line, then silence"
    assert 0.8 < time.monotonic() - t0 < 4.0
    # 200 payload bytes come as chunks of 64, 64, 64, 8: the host stops after two chunks
    raw(dev, b"13 CHECK 200 -\n" + b"x" * 128)
    t0 = time.monotonic()
    assert next_line(dev) == "13 ERR TIMEOUT payload cut short, then silence"
    assert 0.8 < time.monotonic() - t0 < 4.0
    assert dev.check(CALL).verdict == 0


def test_a_host_dying_inside_a_chunk_is_recovered_by_the_next_handshake(dev):
    # 8 of 40 payload bytes: the device blocks inside that chunk (MicroPython's readinto on
    # the console waits for every byte it was asked for) and says nothing ...
    raw(dev, b"14 CHECK 40 -\n{\"tool\":")
    assert dev._readline(time.monotonic() + 1.5) is None
    # ... until the next host's handshake: its newlines complete the chunk, which took longer
    # than the device's timeout, so the frame is dropped and the HELLO after them is answered
    t0 = time.monotonic()
    dev.notices.clear()
    dev.handshake(timeout=5.0)
    assert time.monotonic() - t0 < 1.0
    assert "14 ERR TIMEOUT payload stalled inside a chunk, frame dropped" in dev.notices
    assert dev.check(CALL).verdict == 0


def test_call_longer_than_the_buffer_is_too_large_like_on_cpython(dev):
    from microloop_mpy import TOO_LARGE, Guard

    policy = {"max_call_bytes": 64}
    dev.load_policy(policy)
    big = b'{"tool": "write", "args": {"text": "' + b"x" * 500 + b'"}}'
    a = dev.check(big)
    assert a.verdict == TOO_LARGE == Guard(policy).check(big)
    assert dev.check(b'{"tool": "a"}').verdict == 0  # in sync after draining 500 bytes


def test_refused_policy_keeps_the_old_guard(dev):
    with pytest.raises(link.LinkError, match="bogus"):
        dev.load_policy({"bogus": 1})
    with pytest.raises(link.LinkError, match="JSON"):
        dev.expect_ok("POLICY", b"{not json")
    assert dev.check(CALL).verdict == 0


def test_host_clock_drives_time_budgets(dev):
    policy = {"rules": [{"tool": "open_valve", "count": 1, "per_s": 60}]}
    dev.load_policy(policy, t_ms=0, fresh=True)
    assert dev.check(b'{"tool": "open_valve", "args": {"zone": 1}}').verdict == 0
    assert dev.check(b'{"tool": "open_valve", "args": {"zone": 2}}').verdict != 0
    dev.clock(61_000)  # a minute later the budget is back
    assert dev.check(b'{"tool": "open_valve", "args": {"zone": 3}}').verdict == 0


def test_suspended_device_times_out_clearly_then_recovers(vb, dev):
    vb.suspend()
    try:
        t0 = time.monotonic()
        with pytest.raises(link.DeviceTimeout) as e:
            dev.request("CHECK", CALL, timeout=0.5)
        assert 0.4 < time.monotonic() - t0 < 4.0
        msg = str(e.value)
        assert vb.port in msg and "no answer to CHECK" in msg and "0.5s" in msg
    finally:
        vb.resume()
    # the late answer to the timed-out request is not taken for the next one
    a = dev.check(b'{"tool": "after_resume"}')
    assert a.verdict == 0
    assert dev.stats()["checks"] == 2


def test_device_killed_gives_timeout_not_hang(vb, dev):
    vb.kill()
    t0 = time.monotonic()
    with pytest.raises(link.DeviceTimeout):
        dev.request("STATS", timeout=0.5)
    assert time.monotonic() - t0 < 4.0
    vb.hard_reset()  # RESET button: main.py serves again on the same port
    dev.handshake()
    assert dev.check(CALL).verdict == 0


def test_ctrl_c_outside_a_payload_hands_the_console_to_mpremote(vb, dev):
    dev.load_policy({"max_call_bytes": 256})
    # 0x03 inside a payload is data: the guard sees it (a raw control byte: malformed)
    a = dev.check(b'{"tool": "a\x03"}')
    assert a.verdict != 0
    dev.close()
    r = subprocess.run([tool("mpremote"), "connect", vb.port, "resume", "exec",
                        "import microloop_serve; print('repl ok', microloop_serve.PROTO)"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"repl ok {link.PROTO}" in r.stdout
    # and serving again is one exec away
    r = subprocess.run([tool("mpremote"), "connect", vb.port, "resume", "exec", "--no-follow",
                        "import microloop_serve; microloop_serve.serve()"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    with link.DeviceLink.open(vb.port) as L:
        L.handshake()
        assert L.check(CALL).verdict == 0


def test_frame_format_matches_the_firmware_header():
    f = link.frame(5, "CHECK", b"{}", ())
    assert f == b"5 CHECK 2 %08x\n{}" % (zlib.crc32(b"{}"))
    assert link.frame(6, "OUTCOME", b"", (1, "-"), crc=False) == b"6 OUTCOME 0 - 1 -\n"


def test_server_ends_at_eof_on_the_unix_port(built):
    # stdin closed: the loop returns instead of spinning (the unix port then exits)
    env = dict(os.environ, MICROPYPATH=f".frozen:{built / 'lib'}")
    r = subprocess.run([vboard.micropython(), "main.py"], cwd=built, env=env,
                       input=b"1 HELLO 0 -\n", capture_output=True, timeout=20)
    assert r.returncode == 0
    assert b"1 OK HELLO proto=2" in r.stdout


def test_handshake_to_a_silent_device_names_the_likely_causes(vb):
    vb.suspend()  # plugged in, but not running microloop_serve
    try:
        with link.DeviceLink.open(vb.port) as L:
            t0 = time.monotonic()
            with pytest.raises(link.DeviceTimeout) as e:
                L.handshake(timeout=1.0)
            assert time.monotonic() - t0 < 4.0
        assert "no HELLO answer within 1s" in str(e.value)
        assert "microloop_serve running" in str(e.value)
    finally:
        vb.resume()
    with link.DeviceLink.open(vb.port) as L:  # and once it runs, the handshake succeeds
        assert L.handshake().proto == link.PROTO


def test_opening_a_missing_port_fails_after_waiting():
    t0 = time.monotonic()
    with pytest.raises(link.DeviceTimeout, match="cannot open the port"):
        link.DeviceLink.open("/dev/microloop-no-such-port", wait=0.5)
    assert 0.4 < time.monotonic() - t0 < 3


@pytest.mark.parametrize("saved", [b'{"loops": {"identical": 1}}', b"{not json", b"[1, 2]"])
def test_a_bad_saved_policy_still_boots_serving_the_default(built, tmp_path, saved):
    import shutil

    flash = tmp_path / "flash"
    shutil.copytree(built, flash)
    (flash / "microloop_policy.json").write_bytes(saved)
    with vboard.VirtualBoard.from_board("unix", flash_dir=flash) as b:
        with link.DeviceLink.open(b.port) as L:
            h = L.handshake()
            assert h.max_call_bytes == 4096  # the firmware's default, not a crash
            assert L.check(CALL).verdict == 0
    r = subprocess.run([vboard.micropython(), "main.py"], cwd=flash, input=b"",
                       env=dict(os.environ, MICROPYPATH=f".frozen:{flash / 'lib'}"),
                       capture_output=True, timeout=20)
    assert r.stdout.startswith(b"- OK READY proto=2 fw=") and b"policy=refused" in r.stdout
