# agent_gate -- an agent loop on the board, every tool call gated by the guard (example).
#
# What it is for: a board that runs an agent's tool calls itself -- from a host agent sending
# one JSON call per line on the console, or from a queue in its own code -- runs a call only
# when the guard allows it, against local tools (machine.Pin, a temperature sensor), and
# reports each outcome back to the guard, so loop detection sees results, not only calls.
# On ports without `machine` (the unix port) the pins and the sensor are stubs that record
# what would have happened.
#
# What it must never do: run a blocked call, or run anything but the bytes the guard checked
# (the dispatcher parses the same buffer the guard just read; nothing is re-serialised).
#
# Run:  import agent_gate; agent_gate.demo()      a stuck thermostat agent, stopped by the guard
#       import agent_gate; agent_gate.serve()     one JSON call per line in, one JSON answer out
import sys

try:
    import ujson as json
except ImportError:
    import json

try:
    import machine

    if not hasattr(machine, "Pin"):  # the unix port has a machine module without pins
        machine = None
except ImportError:  # CPython: stub hardware
    machine = None

try:
    from time import sleep_ms
except ImportError:
    from time import sleep as _sleep

    def sleep_ms(ms):
        _sleep(ms / 1000)


from microloop_mpy import Guard, ALLOW

# A board's calls are short: a 1 KB receive buffer. A polling loop (read, sleep, read...)
# would exempt its tools here: {"tools": {"read_temp": {"exempt": true}, ...}}.
DEFAULT_POLICY = {"max_call_bytes": 1024}


class StubPin:
    """Stands in for machine.Pin where there is none; remembers every write."""

    def __init__(self, n, log):
        self.n = n
        self.v = 0
        self.log = log

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = 1 if v else 0
        self.log.append((self.n, self.v))
        return None


class Tools:
    """The board's local tools. Each takes the call's args (a dict) and returns text."""

    def __init__(self, temperature=None):
        self.pins = {}
        self.writes = []  # (pin, value) for every pin write, real or stub
        self.temperature = temperature  # stub sensor reading, C
        self.table = {
            "set_pin": self.set_pin,
            "read_pin": self.read_pin,
            "read_temp": self.read_temp,
            "sleep_ms": self.sleep,
        }

    def _pin(self, n):
        if type(n) is not int or n < 0 or n > 48:
            raise ValueError("bad pin")
        p = self.pins.get(n)
        if p is None:
            p = machine.Pin(n, machine.Pin.OUT) if machine else StubPin(n, self.writes)
            self.pins[n] = p
        return p

    def set_pin(self, args):
        n = args["pin"]
        v = 1 if args["value"] else 0
        self._pin(n).value(v)
        if machine:
            self.writes.append((n, v))
        return "pin %d = %d" % (n, v)

    def read_pin(self, args):
        return "pin %d is %d" % (args["pin"], self._pin(args["pin"]).value())

    def read_temp(self, args):
        return "%.1f C" % self._temperature()

    def sleep(self, args):
        ms = args.get("ms", 0)
        sleep_ms(min(int(ms), 5000))
        return "slept %d ms" % ms

    def _temperature(self):
        if self.temperature is not None or machine is None:
            return 21.5 if self.temperature is None else self.temperature
        try:
            import esp32

            return esp32.mcu_temperature()
        except (ImportError, AttributeError):
            pass
        adc = machine.ADC(4)  # RP2040: the internal sensor on ADC input 4
        volts = adc.read_u16() * 3.3 / 65535
        return 27 - (volts - 0.706) / 0.001721


class AgentGate:
    """Checks each call in a preallocated buffer; runs it only when allowed."""

    def __init__(self, policy=None, tools=None):
        self.guard = Guard(DEFAULT_POLICY if policy is None else policy)
        self.buf = bytearray(self.guard.max_call_bytes + 1)
        self.mv = memoryview(self.buf)
        self.tools = tools if tools is not None else Tools()
        self.ran = 0
        self.blocked = 0

    def handle(self, n):
        """Gates the call in buf[0:n]. Returns (verdict, ok, text); ok is None when the call
        was blocked (not run), else whether the tool ran without failing."""
        g = self.guard
        v = g.check(self.buf, 0, n)
        if v != ALLOW:
            self.blocked += 1
            return v, None, g.reason(v)
        entry = g.last_entry()
        ok = True
        try:
            call = json.loads(bytes(self.mv[0:n]))  # the very bytes the guard checked
            fn = self.tools.table.get(call["tool"])
            if fn is None:
                ok = False
                text = "no such tool on this board"
            else:
                text = fn(call.get("args", {}))
        except Exception as e:  # the tool failed: report it, never crash the loop
            ok = False
            text = "%s: %s" % (type(e).__name__, e)
        self.ran += 1
        r = text.encode()
        g.outcome(ok, r, 0, len(r), entry)
        return v, ok, text

    def feed(self, data):
        """Gates one call given as bytes (copied into the buffer)."""
        n = len(data)
        if n > len(self.buf):
            n = len(self.buf)  # the guard answers TOO_LARGE for it
        self.buf[0:n] = data[0:n]
        return self.handle(n)


def _answer(out, v, ok, text):
    out.write(json.dumps({"verdict": v, "ran": ok is not None, "ok": ok, "text": text}).encode())
    out.write(b"\n")


def serve(policy=None, inp=None, out=None):
    """One JSON call per line on the console in, one JSON answer per line out. Ends at EOF
    or an empty line."""
    gate = AgentGate(policy)
    inp = inp or sys.stdin.buffer
    out = out or sys.stdout.buffer
    while True:
        line = inp.readline()
        if not line or not line.strip():
            break
        v, ok, text = gate.feed(line.strip())
        _answer(out, v, ok, text)
    return gate


# A naive thermostat agent: "too warm? switch the fan on and look again". The stub sensor never
# changes, so the agent alternates read_temp / set_pin with identical results: the guard stops
# it (a cycle) instead of letting it toggle the pin forever.
DEMO_PLAN = (
    b'{"tool": "read_temp", "args": {"sensor": "mcu"}}',
    b'{"tool": "set_pin", "args": {"pin": 5, "value": 1}}',
)


def demo(rounds=20, policy=None, out=None):
    gate = AgentGate(policy)
    out = out or sys.stdout
    for i in range(rounds):
        v, ok, text = gate.feed(DEMO_PLAN[i % 2])
        out.write("%2d %-5s %-7s %s\n" % (i, "ALLOW" if v == ALLOW else "BLOCK",
                                          "not run" if ok is None else "ran", text))
        if v != ALLOW:
            out.write("agent stopped by the guard after %d tool runs\n" % gate.ran)
            break
    return gate


if __name__ == "__main__":
    demo()
