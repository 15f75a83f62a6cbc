# microloop_tools.link -- the host side of the microloop serial protocol (see the header of
# firmware/microloop_serve.py for the wire format).
#
# What it is for: open a port (pyserial), handshake, and send one request at a time, matching
# each answer by its sequence number; lines that answer nothing (a READY banner, REPL noise,
# an error line for garbage someone else sent) are kept in `notices`, never mistaken for an
# answer. Every wait has a deadline: a slow, hung or reset device gives a DeviceTimeout that
# says which request got no answer, on which port, after how long.
#
# What it must never do: block forever, or read a stale answer as the current one.
from __future__ import annotations

import json
import random
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

PROTO = 1


class LinkError(RuntimeError):
    """The device answered, but not what was asked (ERR line, wrong protocol...)."""


class DeviceTimeout(LinkError):
    """No answer in time: the device is slow, hung, reset or unplugged."""


@dataclass
class Hello:
    proto: int
    fw: str
    impl: str
    platform: str
    buf: int
    max_call_bytes: int
    crc: bool
    timeout_ms: int


@dataclass
class CheckAnswer:
    verdict: int
    entry: int
    rule: int
    hash: str
    us: int
    reason: str
    rt_ms: float


@dataclass
class Answer:
    seq: int
    ok: bool
    cmd: str  # command echoed on OK, error code on ERR
    fields: list[str]
    text: str  # the rest of the line after cmd/code
    rt_ms: float


def frame(seq: int, cmd: str, payload: bytes = b"", args: tuple = (), crc: bool = True) -> bytes:
    """One request frame, as the device reads it."""
    c = f"{zlib.crc32(payload) & 0xFFFFFFFF:08x}" if crc else "-"
    head = f"{seq} {cmd} {len(payload)} {c}"
    if args:
        head += " " + " ".join(str(a) for a in args)
    return head.encode("ascii") + b"\n" + payload


def parse_kv(fields: list[str]) -> dict[str, str]:
    return dict(f.split("=", 1) for f in fields if "=" in f)


@dataclass
class DeviceLink:
    """One open serial port speaking the protocol. `ser` is a pyserial Serial (or anything
    with write/read/readline/timeout/reset_input_buffer)."""

    ser: Any
    port: str = "?"
    timeout: float = 5.0  # per answer
    crc: bool = True
    notices: list[str] = field(default_factory=list)
    hello: Hello | None = None
    _seq: int = 0
    _pending: bytes = b""

    @classmethod
    def open(cls, port: str, baud: int = 115200, dtr: bool = True, rts: bool = True,
             timeout: float = 5.0, wait: float = 10.0) -> "DeviceLink":
        """Opens the port, waiting up to `wait` s for it to appear (a board with native USB
        re-enumerates after a reset)."""
        import serial

        deadline = time.monotonic() + wait
        while True:
            ser = serial.Serial()
            ser.port = port
            ser.baudrate = baud
            ser.timeout = 0.05
            ser.dtr = dtr  # set before open: the ESP32 auto-reset circuit sees both at once
            ser.rts = rts
            try:
                ser.open()
                return cls(ser=ser, port=port, timeout=timeout)
            except OSError as e:  # serial.SerialException is an OSError
                if time.monotonic() >= deadline:
                    raise DeviceTimeout(f"{port}: cannot open the port: {e}") from e
                time.sleep(0.2)

    def close(self) -> None:
        try:
            self.ser.close()
        except Exception:
            pass

    def __enter__(self) -> "DeviceLink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- lines ---------------------------------------------------------------------------
    def _readline(self, deadline: float) -> str | None:
        """One complete line, or None at the deadline (a partial line is kept)."""
        while True:
            nl = self._pending.find(b"\n")
            if nl >= 0:
                line, self._pending = self._pending[:nl], self._pending[nl + 1:]
                return line.rstrip(b"\r").decode("utf-8", "replace")
            if time.monotonic() >= deadline:
                return None
            try:
                n = self.ser.in_waiting
                chunk = self.ser.read(n if n > 0 else 1)
            except OSError as e:  # unplugged / pty gone
                raise DeviceTimeout(f"{self.port}: port error while waiting for an answer: {e}")
            if chunk:
                self._pending += chunk

    def _next_seq(self) -> int:
        self._seq = self._seq % 999_999_999 + 1
        return self._seq

    # ---- requests ------------------------------------------------------------------------
    def request(self, cmd: str, payload: bytes = b"", args: tuple = (),
                timeout: float | None = None) -> Answer:
        """Sends one request and returns its answer (OK or ERR). Raises DeviceTimeout."""
        seq = self._next_seq()
        t0 = time.perf_counter()
        self.ser.write(frame(seq, cmd, payload, args, self.crc))
        self.ser.flush()
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        prefix = f"{seq} "
        while True:
            line = self._readline(deadline)
            if line is None:
                raise DeviceTimeout(
                    f"{self.port}: no answer to {cmd} (seq {seq}) within {wait:.1f}s: the device "
                    f"is slow, hung, was reset or unplugged (try a longer --timeout, check it "
                    f"still runs microloop_serve)")
            if not line.startswith(prefix):
                self.notices.append(line)
                continue
            rt = (time.perf_counter() - t0) * 1000.0
            parts = line.split(" ")
            if len(parts) < 3 or parts[1] not in ("OK", "ERR"):
                self.notices.append(line)
                continue
            ok = parts[1] == "OK"
            rest = line.split(" ", 3)[3] if len(parts) > 3 else ""
            return Answer(seq, ok, parts[2], parts[3:], rest, rt)

    def expect_ok(self, cmd: str, payload: bytes = b"", args: tuple = (),
                  timeout: float | None = None) -> Answer:
        a = self.request(cmd, payload, args, timeout)
        if not a.ok:
            raise LinkError(f"{self.port}: {cmd} refused: {a.cmd} {a.text}")
        return a

    def handshake(self, timeout: float = 10.0) -> Hello:
        """HELLO until the device answers (it may still be booting, and pyserial dropped what
        it sent before the port was open). A random seq makes a stale answer impossible."""
        self.ser.reset_input_buffer()
        self._pending = b""
        self._seq = random.randrange(100_000, 900_000_000)
        deadline = time.monotonic() + timeout
        last_err = None
        wait = 0.5
        while time.monotonic() < deadline:
            try:
                left = max(0.05, deadline - time.monotonic())
                a = self.request("HELLO", timeout=min(wait, left))
            except DeviceTimeout as e:
                last_err = e
                # Booting, or stuck in a frame cut short: wait longer than the device's
                # inter-byte timeout (1 s) so it gives up that frame instead of eating ours.
                wait = 1.5
                continue
            if not a.ok:
                continue
            kv = parse_kv(a.fields)
            self.hello = Hello(
                proto=int(kv.get("proto", 0)), fw=kv.get("fw", "?"), impl=kv.get("impl", "?"),
                platform=kv.get("platform", "?"), buf=int(kv.get("buf", 0)),
                max_call_bytes=int(kv.get("max_call_bytes", 0)), crc=kv.get("crc") == "1",
                timeout_ms=int(kv.get("timeout_ms", 0)))
            if self.hello.proto != PROTO:
                raise LinkError(f"{self.port}: device speaks protocol {self.hello.proto}, "
                                f"this harness {PROTO}: deploy the matching firmware")
            self.crc = self.hello.crc
            return self.hello
        raise DeviceTimeout(f"{self.port}: no HELLO answer within {timeout:.0f}s: is "
                            f"microloop_serve running (firmware/main.py deployed, board reset)? "
                            f"({last_err})")

    # ---- commands ------------------------------------------------------------------------
    def load_policy(self, policy: dict | None, t_ms: int | None = None,
                    fresh: bool = False) -> int:
        """Installs a policy; with t_ms the guard runs on the host-driven clock. Returns the
        receive buffer size."""
        payload = b"" if policy is None else json.dumps(policy).encode()
        args: tuple = ()
        if t_ms is not None:
            args = (int(t_ms), 1 if fresh else 0)
        a = self.request("POLICY", payload, args)
        if not a.ok:
            raise LinkError(f"{self.port}: policy refused by the device: {a.cmd} {a.text}")
        return int(parse_kv(a.fields).get("buf", 0))

    def clock(self, t_ms: int) -> None:
        self.expect_ok("CLOCK", args=(int(t_ms),))

    def check(self, call: bytes) -> CheckAnswer:
        a = self.request("CHECK", call)
        if not a.ok:
            raise LinkError(f"{self.port}: CHECK failed: {a.cmd} {a.text}")
        f = a.text.split(" ", 5)
        if len(f) < 5:
            raise LinkError(f"{self.port}: short CHECK answer: {a.text!r}")
        return CheckAnswer(verdict=int(f[0]), entry=int(f[1]), rule=int(f[2]),
                           hash=f[3], us=int(f[4]), reason=f[5] if len(f) > 5 else "",
                           rt_ms=a.rt_ms)

    def outcome(self, ok: bool, result: bytes = b"", entry: int | None = None) -> int:
        a = self.expect_ok("OUTCOME", result, (1 if ok else 0, "-" if entry is None else entry))
        return int(a.fields[0]) if a.fields else 0

    def reset(self) -> None:
        self.expect_ok("RESET")

    def stats(self) -> dict[str, int]:
        a = self.expect_ok("STATS")
        return {k: int(v) for k, v in parse_kv(a.fields).items()}

    def bye(self) -> None:
        self.expect_ok("BYE")
