# microloop_tools.link -- the host side of the microloop serial protocol (see the header of
# firmware/microloop_serve.py for the wire format).
#
# What it is for: open a port (pyserial), handshake, and send one request at a time, matching
# each answer by its sequence number; lines that answer nothing (a READY banner, REPL noise,
# an error line for garbage someone else sent) are kept in `notices`, never mistaken for an
# answer. Every wait has a deadline: a slow, hung or reset device gives a DeviceTimeout that
# says which request got no answer, on which port, after how long.
#
# Flow control (protocol 2): a frame starts with `window` bytes of credit; every 0x01 byte the
# device writes gives `grant` more. The host never has more of a frame in flight than the
# window, so a device that keeps what arrives in a small ring (the ESP32's UART REPL drops
# what does not fit its ~259 bytes) loses nothing however fast the host writes. Grant bytes
# are taken out of the input before lines are split; 0x01 never occurs in an answer line.
#
# What it must never do: block forever, or read a stale answer as the current one.
from __future__ import annotations

import json
import random
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

PROTO = 2
WIN_MIN = 128  # the smallest window the device accepts; it fits every known input ring
DEFAULT_WINDOW = 128
GRANT = 64  # bytes per grant in protocol 2 (the device says so in HELLO)


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
    win: int = DEFAULT_WINDOW
    grant: int = GRANT


@dataclass
class CheckAnswer:
    verdict: int
    entry: int
    rule: int
    hash: str
    us: int
    reason: str
    rt_ms: float
    rx_us: int = 0  # device clock, header's first byte to payload's last


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
    with write/read/flush/in_waiting/reset_input_buffer). `window` is the most bytes of a
    frame in flight (boards/<board>.json "serial_window"); `flow=False` writes every frame at
    once, ignoring the window (only to show what flow control prevents)."""

    ser: Any
    port: str = "?"
    timeout: float = 5.0  # per answer
    crc: bool = True
    window: int = DEFAULT_WINDOW
    flow: bool = True
    notices: list[str] = field(default_factory=list)
    hello: Hello | None = None
    grant: int = GRANT
    tx_bytes: int = 0  # everything written to the port (frames and handshake newlines)
    _seq: int = 0
    _pending: bytes = b""
    _grants: int = 0

    def __post_init__(self) -> None:
        if self.window < WIN_MIN:
            raise ValueError(f"serial window {self.window} is below the protocol's minimum "
                             f"{WIN_MIN} bytes")

    @classmethod
    def open(cls, port: str, baud: int = 115200, dtr: bool = True, rts: bool = True,
             timeout: float = 5.0, wait: float = 10.0,
             window: int = DEFAULT_WINDOW) -> "DeviceLink":
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
                return cls(ser=ser, port=port, timeout=timeout, window=window)
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

    # ---- input: grant bytes out, lines kept ------------------------------------------------
    def _take(self, chunk: bytes) -> None:
        """Counts the grant bytes in what arrived and keeps the rest for lines."""
        g = chunk.count(1)
        if g:
            self._grants += g
            chunk = chunk.replace(b"\x01", b"")
        self._pending += chunk

    def _pump(self) -> None:
        """Reads what the port has (waiting up to its 50 ms read timeout for a first byte)."""
        try:
            n = self.ser.in_waiting
            chunk = self.ser.read(n if n > 0 else 1)
        except OSError as e:  # unplugged / pty gone
            raise DeviceTimeout(f"{self.port}: port error while waiting for an answer: {e}")
        if chunk:
            self._take(chunk)

    def _pump_nowait(self) -> None:
        """Takes in what has already arrived, without waiting."""
        try:
            n = self.ser.in_waiting
            if n > 0:
                self._take(self.ser.read(n))
        except OSError as e:
            raise DeviceTimeout(f"{self.port}: port error: {e}")

    def _readline(self, deadline: float) -> str | None:
        """One complete line, or None at the deadline (a partial line is kept)."""
        while True:
            nl = self._pending.find(b"\n")
            if nl >= 0:
                line, self._pending = self._pending[:nl], self._pending[nl + 1:]
                return line.rstrip(b"\r").decode("utf-8", "replace")
            if time.monotonic() >= deadline:
                return None
            self._pump()

    def _write(self, data: bytes) -> None:
        self.ser.write(data)
        self.tx_bytes += len(data)

    def _next_seq(self) -> int:
        self._seq = self._seq % 999_999_999 + 1
        return self._seq

    # ---- requests ------------------------------------------------------------------------
    def _send(self, data: bytes, cmd: str, seq: int, deadline: float, wait: float) -> bool:
        """Writes one frame, never more than the window ahead of the device's grants.
        Returns False when the device answered this seq before taking the whole frame (an
        error), True when the frame went out whole. Raises DeviceTimeout when no grant comes."""
        self._pump_nowait()  # stale grants of an earlier frame must not count for this one
        self._grants = 0
        total = len(data)
        if not self.flow or total <= self.window:
            self._write(data)
            self.ser.flush()
            return True
        credit = self.window
        sent = 0
        mine = f"\n{seq} ".encode()
        while True:
            end = min(total, credit)
            if end > sent:
                self._write(data[sent:end])
                sent = end
            if sent >= total:
                self.ser.flush()
                return True
            while not self._grants:
                if mine in b"\n" + self._pending:
                    return False  # answered early (e.g. ERR TIMEOUT): stop sending
                if time.monotonic() >= deadline:
                    raise DeviceTimeout(
                        f"{self.port}: no flow-control grant for {cmd} (seq {seq}) after {sent} "
                        f"of {total} bytes within {wait:.1f}s: the device is slow, hung, was "
                        f"reset, or does not run microloop_serve protocol {PROTO}")
                self._pump()
            credit += self._grants * self.grant
            self._grants = 0

    def request(self, cmd: str, payload: bytes = b"", args: tuple = (),
                timeout: float | None = None) -> Answer:
        """Sends one request and returns its answer (OK or ERR). Raises DeviceTimeout."""
        seq = self._next_seq()
        t0 = time.perf_counter()
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        self._send(frame(seq, cmd, payload, args, self.crc), cmd, seq, deadline, wait)
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
        it sent before the port was open). A random seq makes a stale answer impossible. Each
        HELLO follows GRANT newlines: they finish a payload chunk a dead host left half
        written (the device then drops that frame), and are empty lines otherwise."""
        self.ser.reset_input_buffer()
        self._pending = b""
        self._seq = random.randrange(100_000, 900_000_000)
        deadline = time.monotonic() + timeout
        last_err = None
        wait = 0.5
        while time.monotonic() < deadline:
            try:
                left = max(0.05, deadline - time.monotonic())
                self._write(b"\n" * GRANT)
                a = self.request("HELLO", args=(self.window,), timeout=min(wait, left))
            except DeviceTimeout as e:
                last_err = e
                # Booting, or stuck in a frame cut short: wait longer than the device's
                # inter-byte timeout (1 s) so it gives up that frame instead of eating ours.
                wait = 1.5
                continue
            if not a.ok:
                if a.cmd == "ARGS":
                    raise LinkError(f"{self.port}: HELLO refused: {a.cmd} {a.text}")
                continue  # our HELLO was caught in a broken frame: the next one is not
            kv = parse_kv(a.fields)
            proto = int(kv.get("proto", 0)) if kv.get("proto", "").isdigit() else 0
            if proto != PROTO:
                raise LinkError(f"{self.port}: the device speaks serial protocol {proto}, this "
                                f"harness {PROTO}: deploy the matching firmware (microloop "
                                f"deploy --board B --port {self.port})")
            self.hello = Hello(
                proto=proto, fw=kv.get("fw", "?"), impl=kv.get("impl", "?"),
                platform=kv.get("platform", "?"), buf=int(kv.get("buf", 0)),
                max_call_bytes=int(kv.get("max_call_bytes", 0)), crc=kv.get("crc") == "1",
                timeout_ms=int(kv.get("timeout_ms", 0)), win=int(kv.get("win", 0)),
                grant=int(kv.get("grant", 0)))
            if self.hello.win != self.window or not 0 < 2 * self.hello.grant <= self.window:
                raise LinkError(f"{self.port}: the device took window {self.hello.win} with "
                                f"grants of {self.hello.grant} bytes; asked for {self.window}")
            self.grant = self.hello.grant
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
        f = a.text.split(" ", 6)
        if len(f) < 6:
            raise LinkError(f"{self.port}: short CHECK answer: {a.text!r}")
        return CheckAnswer(verdict=int(f[0]), entry=int(f[1]), rule=int(f[2]),
                           hash=f[3], us=int(f[4]), rx_us=int(f[5]),
                           reason=f[6] if len(f) > 6 else "", rt_ms=a.rt_ms)

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
