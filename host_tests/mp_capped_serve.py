# Device program for host_tests/test_harness_flow.py, run by the virtual board (MicroPython unix
# port on a pty) as its main.py: microloop_serve behind a console whose input is capped the way
# the ESP32's UART REPL caps it.
#
# On the ESP32 an interrupt moves every byte off the wire into a ring of about 259 bytes and
# drops what does not fit, whatever the program is doing. Here the "wire" is the pty (the
# kernel keeps what the host wrote), and CappedConsole moves it into a ring of `cap` bytes
# whenever the server asks for input, dropping what does not fit -- after being busy elsewhere
# for a while (a flash write, a sensor read), so the wire fills up meanwhile. The counters say
# how many bytes reached the ring and how many were dropped; run() writes them to
# capped_result.json when the server ends (BYE).
#
# Settings come from capped.json next to it: {"cap": 128, "busy_ms": [0, 1, 3],
# "timeout_ms": 400}; busy_ms is the cycle of pauses taken before each wait for input.
import json
import select
import sys
import time

import microloop_serve


class CappedConsole:
    """sys.stdin.buffer seen through a ring of `cap` bytes that drops what does not fit.
    Offers what microloop_serve.Server reads with: wait(ms) and readinto(buf[, n])."""

    def __init__(self, cap, busy_ms):
        self.cap = cap
        self.ring = bytearray(cap)
        self.head = 0
        self.count = 0
        self.received = 0  # bytes that reached the ring
        self.dropped = 0  # bytes that arrived while the ring was full
        self.taken = 0  # bytes handed to the server
        self.high = 0  # most bytes ever held in the ring
        self.busy_ms = busy_ms
        self.calls = 0
        self.eof = False
        self.src = sys.stdin.buffer
        self.one = bytearray(1)
        self.p = select.poll()
        self.p.register(sys.stdin, select.POLLIN)

    def _drain(self):
        """What the UART interrupt does: everything waiting on the wire goes into the ring;
        what does not fit is lost."""
        p = self.p
        one = self.one
        cap = self.cap
        while not self.eof and p.poll(0):
            if self.src.readinto(one) != 1:
                self.eof = True
                return
            if self.count < cap:
                self.ring[(self.head + self.count) % cap] = one[0]
                self.count += 1
                self.received += 1
                if self.count > self.high:
                    self.high = self.count
            else:
                self.dropped += 1

    def _busy(self):
        b = self.busy_ms
        ms = b[self.calls % len(b)]
        self.calls += 1
        if ms:
            time.sleep_ms(ms)  # the device is elsewhere; the host goes on writing

    def wait(self, ms):
        """True when a byte can be read within ms (ms < 0: forever)."""
        self._busy()
        self._drain()
        if self.count or self.eof:
            return True
        if self.p.poll(ms):
            self._drain()
        return self.count > 0 or self.eof

    def readinto(self, buf, n=-1):
        """Exactly n bytes (default len(buf)) into buf[0:n], blocking like the console does;
        fewer only at the end of the input."""
        if n < 0:
            n = len(buf)
        got = 0
        ring = self.ring
        cap = self.cap
        while got < n:
            if not self.count:
                self._drain()
                if not self.count:
                    if self.eof:
                        break
                    self.p.poll(-1)
                    continue
            while got < n and self.count:
                buf[got] = ring[self.head]
                self.head = (self.head + 1) % cap
                self.count -= 1
                got += 1
        self.taken += got
        return got


def run():
    with open("capped.json") as f:
        cfg = json.load(f)
    con = CappedConsole(cfg["cap"], cfg.get("busy_ms", [0]))
    srv = microloop_serve.Server(microloop_serve._load_policy_file(microloop_serve.POLICY_FILE),
                                 inp=con, wait=con.wait,
                                 timeout_ms=cfg.get("timeout_ms", 1000))
    srv.serve()
    with open("capped_result.json", "w") as f:
        json.dump({"received": con.received, "dropped": con.dropped, "taken": con.taken,
                   "high": con.high, "cap": con.cap, "rx_bytes": srv.rx_bytes}, f)
