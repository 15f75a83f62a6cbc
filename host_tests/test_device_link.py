# The serial link on a real or emulated board (issue 13, section 4): the protocol's handshake
# and flow control, and not one byte lost over several KB of policy, large calls and large
# results written as fast as the window allows. Needs a board running microloop_serve
# (`microloop deploy --board B --port P` first):
#
#   MICROLOOP_PORT=/dev/ttyACM0 MICROLOOP_BOARD=rp2040 .venv/bin/python -m pytest -q \
#       host_tests/test_device_link.py
#
# Without MICROLOOP_PORT every test here skips, saying so (CI has no board: no package
# registry ships the Pico emulator's firmware). The board itself cannot count what its input
# ring dropped, so integrity is shown by what it answers: every CRC-32 accepted, every verdict
# and call hash equal to CPython's, and its count of payload bytes read equal to what was sent.
from __future__ import annotations

import json
import os

import pytest

from flow_workload import sized_call, workload
from microloop_mpy import Guard
from microloop_tools import boards, link

PORT = os.environ.get("MICROLOOP_PORT")
BOARD = os.environ.get("MICROLOOP_BOARD", "rp2040")

pytestmark = pytest.mark.skipif(
    not PORT, reason="needs a board running microloop_serve: set MICROLOOP_PORT=<serial port> "
                     "(and MICROLOOP_BOARD, default rp2040)")


@pytest.fixture(scope="module")
def board() -> boards.Board:
    return boards.load(BOARD)


@pytest.fixture
def dev(board):
    with link.DeviceLink.open(PORT, board.baud, board.dtr, board.rts, timeout=30.0,
                              window=board.serial_window) as L:
        L.handshake(timeout=20.0)
        yield L
        L.load_policy({"max_call_bytes": board.max_call_bytes})  # as the board booted


def test_handshake_agrees_on_protocol_and_window(dev, board):
    h = dev.hello
    assert h.proto == link.PROTO == 2
    assert h.win == board.serial_window and h.grant == link.GRANT
    assert 2 * h.grant <= h.win


def test_no_byte_lost_over_large_payloads(dev):
    policy, pairs = workload()
    ref = Guard(policy)
    before = dev.stats()["rx_bytes"]
    sent = len(json.dumps(policy))
    dev.load_policy(policy)
    for call, result in pairs:
        a = dev.check(call)
        want = ref.check(call)
        assert (a.verdict, a.hash) == (want, ref.last_hash_hex() or "-"), f"{len(call)} B call"
        dev.outcome(True, result)
        ref.outcome(True, result, 0, len(result), None)
        sent += len(call) + len(result)
    assert dev.stats()["rx_bytes"] - before == sent
    assert not [n for n in dev.notices if " ERR " in n], dev.notices


def test_a_frame_of_exactly_window_and_grant_multiples(dev, board):
    # frames whose length lands on the window and on grant boundaries, where an off-by-one in
    # the credit would show as a stall (timeout) or a lost byte (CRC error)
    dev.load_policy({"max_call_bytes": 4096})
    ref = Guard({"max_call_bytes": 4096})
    for total in (board.serial_window - 1, board.serial_window, board.serial_window + 1,
                  3 * link.GRANT - 1, 3 * link.GRANT, 3 * link.GRANT + 1, 1000):
        seq, call = sized_call(total)
        dev._seq = seq - 1  # the next request's seq
        a = dev.check(call)
        assert a.verdict == ref.check(call), total
