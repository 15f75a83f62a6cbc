# microloop_serve -- the device side of the microloop serial protocol (issue 4).
#
# What it is for: the host (`microloop replay`, or any program) sends tool calls over the
# serial console; each call is read into a preallocated receive buffer and checked by the
# guard *in place*; the answer carries the verdict code, the history entry, the call hash, the
# time check() took on the device (time.ticks_us / ticks_diff) and the reason text.
#
# What it must never do: crash, hang or stop serving because of what arrives on the wire, or
# lose a byte to a host faster than itself. Garbage, an over-long header line, a frame cut
# short (inter-byte timeout), a bad CRC, an unknown command, a policy the guard refuses, even an
# exception raised inside the guard: each gets exactly one error line, then the loop goes on.
# It leaves the loop only on
#   - a Ctrl-C byte (0x03) outside a payload: that is how mpremote gets the REPL back
#     (mpremote sends "\r\x03" then "\r\x01"; payload bytes are never taken as Ctrl-C),
#   - the BYE command,
#   - the end of the input stream (unix port: the pseudo-terminal was closed).
# It never reads ahead of a frame: bytes after a Ctrl-C stay for the REPL.
#
# Imports only MicroPython builtins and microloop_mpy. It also runs on CPython (host tests)
# given unbuffered binary streams.
#
# ---------------------------------------------------------------------------------------
# Protocol, version 2. ASCII header line, then exactly <len> payload bytes:
#
#     <seq> <CMD> <len> <crc> [arg ...]\n<payload>
#
#   seq   1..9 decimal digits, echoed in the answer (the host matches answers by it)
#   len   payload length in bytes, decimal (0 for none)
#   crc   8 hex digits of the CRC-32 (zlib/binascii) of the payload, or "-" for none
#   "\r\n" line ends are accepted; empty lines are ignored; a header is at most 96 bytes.
#
# Flow control (new in version 2; the idea of MicroPython's raw-paste mode). Some ports keep
# what arrives in a small ring and drop what does not fit (the ESP32's UART REPL: about 259
# bytes), so the host never has more than a window of W bytes of a frame in flight:
#   - a frame (header line + payload) starts with W bytes of credit: the host may write its
#     first W bytes at once (W >= 128: a header always fits);
#   - each time the device has consumed another G bytes of the frame (G = 64, counted from the
#     frame's first header byte) it writes one byte 0x01, which gives the host G more bytes of
#     credit; the device leaves out the grants the host cannot need (its credit already covers
#     the frame), so the host must ignore 0x01 bytes it did not wait for;
#   - grants only ever come before the frame's answer line, and 0x01 never occurs in a line.
#   W is the host's to choose (boards/<board>.json "serial_window", default 128); it tells the
#   device in HELLO so the device can leave out the grants it does not need. Until a HELLO says
#   otherwise the device assumes W = 128, the smallest allowed (extra grants are harmless).
#   The payload is read by chunks of at most G bytes (readinto into buffers made once), not
#   byte by byte. A chunk that does not arrive within timeout_ms of the previous one, or that
#   takes longer than timeout_ms to complete (the host died inside a write), ends the frame
#   with ERR TIMEOUT. The host's handshake writes G newlines before HELLO: they complete a
#   chunk a dead host left unfinished, and are ignored as empty lines otherwise.
#
# Every request gets exactly one answer line:
#     <seq> OK <CMD> <fields...>\n        or        <seq> ERR <CODE> <text>\n
# (seq is "-" when the header was too broken to read one). Commands and OK fields:
#   HELLO [win]               proto=2 fw=<version> impl=<name> platform=<p> buf=<bytes>
#                             max_call_bytes=<n> crc=<0|1> timeout_ms=<n> win=<W> grant=<G>
#                             (win: the host's window; at least 128; the answer echoes it)
#   POLICY [t_ms [fresh]]  payload=JSON   buf=<bytes> us=<us>   (empty payload: defaults)
#                             with t_ms the guard's clock is the host's (CLOCK sets it) and
#                             starts at t_ms; fresh=1 first deletes the policy's state_path file
#   CLOCK   <t_ms>            (nothing)   sets the host-driven clock (trajectory "t_ms")
#   CHECK   payload=call      <code> <entry> <rule> <hash8|-> <us> <rx_us> <reason text...>
#                             (us: check() on the device clock; rx_us: from the header's
#                             first byte to the payload's last, flow control included)
#   OUTCOME <ok 0|1> <entry|->  payload=result bytes       <us>      ("-": the last check)
#   RESET                     (nothing)
#   STATS                     mem_free=<n> mem_alloc=<n> checks=<n> blocked=<n>
#                             outcomes=<n> errors=<n> uptime_ms=<n> buf=<bytes>
#                             ticks_us=<time.ticks_us() now> rx_bytes=<payload bytes read>
#   BYE                       (nothing; the loop then returns to the REPL)
# Error codes: GARBAGE, LONGLINE, TIMEOUT, CRC, UNKNOWN, ARGS, POLICY, NOMEM, EXC.
# At start it prints "- OK READY proto=2 fw=<version> policy=<given|default|refused>" (for a
# human at a terminal; the host never relies on it: pyserial drops what came before open).
# The boot policy is microloop_policy.json when present; one the guard refuses is replaced by
# the default ({"max_call_bytes": 4096}) rather than stopping the board from serving.
# A CHECK payload longer than the receive buffer (max_call_bytes + 1) is read and dropped,
# then checked as a span of max_call_bytes + 1 bytes: the guard itself answers TOO_LARGE, so
# the device and CPython agree on the verdict.
# ---------------------------------------------------------------------------------------
import sys
import gc

try:
    import select
except ImportError:  # pragma: no cover - every supported port has select
    import uselect as select

try:
    from binascii import crc32 as _crc32
except ImportError:  # a port built without CRC-32: frames must then carry "-"
    _crc32 = None

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


try:
    from time import ticks_ms, ticks_us, ticks_diff
except ImportError:  # CPython: the same 2**30 tick arithmetic as MicroPython
    import time as _time

    def ticks_us():
        return int(_time.monotonic() * 1000000) & 0x3FFFFFFF

    def ticks_ms():
        return int(_time.monotonic() * 1000) & 0x3FFFFFFF

    def ticks_diff(a, b):
        return ((a - b + 0x20000000) & 0x3FFFFFFF) - 0x20000000


from microloop_mpy import Guard

# A serving board takes any policy the host sends: the parts of the guard that only some
# policies need (policy validation, the reference scanner for per-tool settings and rules,
# rules and budgets, the matcher, the state file) are imported here, at boot, while the heap
# is empty. Imported later, in the middle of serving, their allocations scatter through a
# heap that already holds the receive buffer, and a large rule set then finds no contiguous
# block (seen: 2.4 KB refused with 120 KB free). An application with one fixed policy
# (agent_gate.py) loads only what it uses.
from microloop_mpy.policy import compile_policy  # noqa: E402
import microloop_mpy.scan  # noqa: E402,F401
import microloop_mpy.guard_rules  # noqa: E402,F401
import microloop_mpy.rules  # noqa: E402,F401
import microloop_mpy.matcher  # noqa: E402,F401
import microloop_mpy.state  # noqa: E402,F401

VERSION = "0.1.0"
PROTO = 2
DEFAULT_MAX_CALL_BYTES = 4096
DEFAULT_TIMEOUT_MS = 1000
POLICY_FILE = "microloop_policy.json"

_MICROPY = sys.implementation.name == "micropython"
_HDR_MAX = const(96)
_OUT_MAX = const(320)
_NTOK = const(8)
# _line() and _payload() results below 0
_TIMEOUT = const(-1)
_EOF = const(-2)
# _line() results below 0
_STOP = const(-3)
_LONGLINE = const(-4)
# _payload() result below 0: a chunk began but took longer than timeout_ms to complete
_STALL = const(-5)
# Flow control: each grant byte (0x01) gives the host G more bytes of credit; the window W (the
# host's initial credit per frame) is at least 2 * G, so a chunk of up to G bytes is always
# already granted when the device starts reading it.
_GRANT = const(64)
WIN_MIN = 128
# Chunk views kept (payload bytes 0 .. _NVIEWS * _GRANT): 2 KB of calls read with no allocation
# for 32 small objects (about 0.6 KB on a 32-bit port).
_NVIEWS = const(32)

# Commands, by index in _CMDS.
_HELLO = const(0)
_POLICY = const(1)
_CHECK = const(2)
_OUTCOME = const(3)
_RESET = const(4)
_STATS = const(5)
_BYE = const(6)
_CLOCK = const(7)
_CMDS = (b"HELLO", b"POLICY", b"CHECK", b"OUTCOME", b"RESET", b"STATS", b"BYE", b"CLOCK")


def _load_policy_file(path):
    """The policy saved on the device (JSON), or None when there is none. A file that is not
    a JSON object comes back as {"unreadable": ...}, which the guard refuses (-> default).
    Allocates (boot time only)."""
    try:
        import json

        with open(path) as f:
            p = json.load(f)
        return p if type(p) is dict else {"unreadable": path}
    except OSError:
        return None
    except ValueError:
        return {"unreadable": path}


def _no_rule():
    return -1


class Server:
    """One serial session. All buffers are made here; serving a CHECK allocates only the
    call hash text (last_hash_hex), the CRC result and one memoryview for the CRC. Reading a
    payload allocates nothing once the chunk views it needs exist (readinto with a length).

    inp/out/poll_obj default to the console; `wait`, a callable (ms) -> bool, replaces polling
    poll_obj (a test reader that holds bytes of its own passes it)."""

    def __init__(self, policy=None, inp=None, out=None, poll_obj=None,
                 timeout_ms=DEFAULT_TIMEOUT_MS, wait=None):
        if inp is None:
            inp = sys.stdin.buffer
        if out is None:
            out = sys.stdout.buffer
        if poll_obj is None:
            poll_obj = sys.stdin
        self.inp = inp
        self.out = out
        self.timeout_ms = timeout_ms
        self.hdr = bytearray(_HDR_MAX)
        self.ob = bytearray(_OUT_MAX)
        self.one = bytearray(1)  # header lines are read byte by byte
        self.sc = bytearray(_GRANT)  # payload bytes beyond the receive buffer
        self.gb = b"\x01\x01\x01\x01"  # grant bytes, written with a length
        self.win = WIN_MIN  # the host's window (HELLO sets it)
        self.hlen = 0  # bytes of the current frame's header line, "\n" included
        self.t_rx = 0  # ticks_us() at the current frame's first byte
        self.rx_bytes = 0
        self.rx_us = 0
        self.ts = bytearray(_NTOK)  # token starts in hdr
        self.te = bytearray(_NTOK)  # token ends in hdr
        self.nt = 0
        # Bound methods made once (habit: never bind in the loop).
        self._readinto = inp.readinto
        self._write = out.write
        self._ipoll = None
        self._ppoll = None
        if wait is None:
            self._poll = select.poll()
            self._poll.register(poll_obj, select.POLLIN)
            self._ipoll = getattr(self._poll, "ipoll", None)  # MicroPython: no result list
            self._ppoll = self._poll.poll
            wait = self._pollwait
        self._wait = wait
        # readn(b, k): exactly k bytes into b[0:k]. MicroPython streams take the length and
        # block until they have it (fewer only at the end of input): bound straight to it.
        self._readn = inp.readinto if _MICROPY else self._readn_cpy
        self.reasons = {}
        self.checks = 0
        self.blocked = 0
        self.outcomes = 0
        self.errors = 0
        self.t_start = ticks_ms()
        self.buf = None
        self.mv = None
        self.views = None
        self.bufsize = 0
        self.guard = None
        self.policy = None
        self.now = 0  # the host-driven clock, ms
        self.host_clock = False
        self._clockfn = self._clock  # bound once: the guard calls it inside check()
        self.boot_policy = b"given"
        if policy is None:
            policy = {"max_call_bytes": DEFAULT_MAX_CALL_BYTES}
            self.boot_policy = b"default"
        try:
            self._install(policy)
        except (ValueError, TypeError, MemoryError):
            # a saved policy the guard refuses (or the board cannot hold) must not stop the
            # board from serving: the default one runs, READY says so, POLICY can fix it
            self._install({"max_call_bytes": DEFAULT_MAX_CALL_BYTES})
            self.boot_policy = b"refused"

    # ---- memory -------------------------------------------------------------------------
    def _install(self, policy):
        """Builds the guard and a receive buffer of max_call_bytes + 1. Allocates (that is
        its job); raises ValueError for a policy the guard refuses, MemoryError when the
        board cannot hold it -- the old guard and buffer then stay in service.
        The buffer, the one large contiguous block, is taken first, while the heap is least
        cut up: a guard with many rules is hundreds of small blocks, and built first it can
        leave no 16 KB hole in 140 KB free (seen on the Pico with 120 rules)."""
        old = self.bufsize
        # validated first (a policy the guard refuses is a POLICY error, never NOMEM), so its
        # max_call_bytes is known before the guard is built; the guard compiles it again
        need = compile_policy(policy).max_call_bytes + 1
        if need != old:
            self._resize_buf(need, old)
        try:
            g = Guard(policy, clock=self._clockfn if self.host_clock else None)
        except Exception:
            if self.bufsize != old:
                g = None
                self._resize_buf(old, old)
            raise
        self.guard = g
        self.policy = policy
        self.check = g.check  # bound once per policy, not per call
        self.rule_index = getattr(g, "rule_index", _no_rule)
        gc.collect()

    def _resize_buf(self, size, old):
        """A receive buffer of `size` bytes in place of the current one; on MemoryError the
        buffer of `old` bytes is made again (old 0: none) and the error raised."""
        self.buf = None
        self.mv = None
        self.views = None
        self.bufsize = 0
        gc.collect()
        try:
            self._set_buf(size)
        except MemoryError:
            if old:
                gc.collect()
                self._set_buf(old)
            raise

    def _set_buf(self, size):
        """The receive buffer, its memoryview, and the table of chunk views into it (made
        when first used, then kept: a payload is read straight into buf, with no copy and
        no allocation once a chunk's view exists)."""
        self.buf = bytearray(size)
        self.mv = memoryview(self.buf)
        nv = (size + _GRANT - 1) // _GRANT
        self.views = [None] * (nv if nv < _NVIEWS else _NVIEWS)
        self.bufsize = size

    def _view(self, j):
        """The view of chunk j: buf[j * _GRANT : (j + 1) * _GRANT] (shorter at the end). The
        first _NVIEWS are kept; a later one is made per use (a large policy or result)."""
        s = j * _GRANT
        e = s + _GRANT
        if e > self.bufsize:
            e = self.bufsize
        v = self.mv[s:e]
        if j < _NVIEWS:
            self.views[j] = v
        return v

    def _clock(self):
        return self.now

    # ---- input --------------------------------------------------------------------------
    def _pollwait(self, ms):
        """True when a byte can be read within ms (ms < 0: wait forever)."""
        ipoll = self._ipoll
        if ipoll is not None:
            for _ in ipoll(ms):
                return True
            return False
        return bool(self._ppoll(None if ms < 0 else ms))

    def _readn_cpy(self, b, k):
        """CPython: readinto has no length argument and may return short: loop."""
        mv = memoryview(b)
        got = 0
        while got < k:
            r = self._readinto(mv[got:k])
            if not r:
                break
            got += r
        return got

    def _line(self):
        """Reads one header line into hdr; returns its length (> 0) or _STOP, _EOF,
        _TIMEOUT (a partial line, then silence) or _LONGLINE. Sets hlen (bytes the line took
        on the wire, from its first byte to "\n") and t_rx. Reads byte by byte (never past
        the line), with the byte read and the poll written inline: a Python call costs 17 us
        on a Pico, twice per byte. Does not allocate."""
        hdr = self.hdr
        one = self.one
        readinto = self._readinto
        ipoll = self._ipoll  # None when a `wait` was given
        wait = self._wait
        tmo = self.timeout_ms
        n = 0
        w = 0  # bytes of this line on the wire
        over = False
        while True:
            ms = -1 if (w == 0 and not over) else tmo
            if ipoll is not None:
                ready = False
                for _ in ipoll(ms):
                    ready = True
                    break
            else:
                ready = wait(ms)
            if not ready:
                return _LONGLINE if over else _TIMEOUT
            try:
                if readinto(one) != 1:
                    return _EOF
            except OSError:
                return _EOF
            c = one[0]
            if c == 3:  # Ctrl-C outside a payload: hand the console back to the REPL
                return _STOP
            if c == 10:
                if over:
                    return _LONGLINE
                if n and hdr[n - 1] == 13:
                    n -= 1
                if n:
                    self.hlen = w + 1
                    return n
                w = 0
                continue  # empty line
            if over:
                continue
            if n == 0 and c <= 32:
                w = 0
                continue  # blanks or control bytes before a header ("\r", mpremote's "\x02")
            if w == 0:
                self.t_rx = ticks_us()
            w += 1
            if n >= _HDR_MAX:
                over = True
                continue
            hdr[n] = c
            n += 1

    def _grant(self, g):
        """Writes g grant bytes (0x01), each giving the host _GRANT more bytes of credit."""
        while g > 0:
            k = 4 if g > 4 else g
            if _MICROPY:
                self._write(self.gb, k)
            else:
                self._write(self.gb[:k])
                flush = getattr(self.out, "flush", None)
                if flush is not None:
                    flush()
            g -= k

    def _payload(self, n):
        """Reads exactly n payload bytes by chunks of _GRANT bytes (the last one shorter),
        granting the host credit back as it consumes them. Chunk j goes straight into
        buf[j * _GRANT:] through its view (readinto with a length); what lies beyond bufsize
        is read into sc and dropped. Returns n, _TIMEOUT, _STALL or _EOF. Allocates nothing
        for the first _NVIEWS chunks once their views exist, one small view per later chunk
        (copying through sc instead costs more than the allocation on the Pico: a 64-byte
        slice store takes 90 us there, 500 us unaligned; readinto into a view 31 us)."""
        size = self.bufsize
        win = self.win
        ms = self.timeout_ms
        wait = self._wait
        ipoll = self._ipoll
        readn = self._readn
        views = self.views
        nviews = len(views)
        c = self.hlen  # bytes of this frame consumed
        end = c + n
        a = win  # the host's credit as the device counts it
        i = 0
        j = 0
        while True:
            # Credit back every _GRANT bytes consumed, unless the host's credit already
            # covers the whole frame. Since win >= 2 * _GRANT, the next chunk (<= _GRANT
            # bytes) is always within the credit (a >= c + _GRANT or a >= end).
            g = 0
            while a < end and c >= a - win + _GRANT:
                a += _GRANT
                g += 1
            if g:
                if _MICROPY and g <= 4:
                    self._write(self.gb, g)
                else:
                    self._grant(g)
            k = n - i
            if k <= 0:
                self.rx_bytes += n
                return n
            if k > _GRANT:
                k = _GRANT
            if ipoll is not None:
                ready = False
                for _ in ipoll(ms):
                    ready = True
                    break
            else:
                ready = wait(ms)
            if not ready:
                return _TIMEOUT
            t0 = ticks_ms()
            try:
                if i + k <= size:
                    v = views[j] if j < nviews else None
                    if v is None:
                        v = self._view(j)
                    r = readn(v, k)
                else:
                    r = readn(self.sc, k)
                    if r == k and i < size:
                        self._copy_tail(i, k)
            except OSError:
                return _EOF
            if r != k:
                return _EOF
            if ticks_diff(ticks_ms(), t0) > ms:
                return _STALL  # the chunk began, then the host fell silent inside it
            i += k
            c += k
            j += 1

    def _copy_tail(self, i, k):
        """The chunk that straddles the end of buf (a payload longer than the buffer):
        copies the part that fits, byte by byte (rare; no allocation)."""
        buf = self.buf
        sc = self.sc
        j = 0
        size = self.bufsize
        while i < size and j < k:
            buf[i] = sc[j]
            i += 1
            j += 1

    # ---- header parsing (no allocation) -----------------------------------------------------
    def _split(self, n):
        hdr = self.hdr
        ts = self.ts
        te = self.te
        k = 0
        i = 0
        while i < n:
            while i < n and hdr[i] == 32:
                i += 1
            if i >= n:
                break
            if k >= _NTOK:
                return -1
            ts[k] = i
            while i < n and hdr[i] != 32:
                i += 1
            te[k] = i
            k += 1
        self.nt = k
        return k

    def _num(self, k):
        """Token k as a decimal int (at most 9 digits), or -1."""
        if k >= self.nt:
            return -1
        hdr = self.hdr
        i = self.ts[k]
        e = self.te[k]
        if e - i > 9 or e == i:
            return -1
        v = 0
        while i < e:
            c = hdr[i] - 48
            if c < 0 or c > 9:
                return -1
            v = v * 10 + c
            i += 1
        return v

    def _is(self, k, word):
        if k >= self.nt:
            return False
        hdr = self.hdr
        i = self.ts[k]
        if self.te[k] - i != len(word):
            return False
        for c in word:
            if hdr[i] != c:
                return False
            i += 1
        return True

    def _cmd(self):
        for i in range(len(_CMDS)):
            if self._is(1, _CMDS[i]):
                return i
        return -1

    def _hex16(self, i):
        hdr = self.hdr
        v = 0
        for j in range(i, i + 4):
            c = hdr[j]
            if 48 <= c <= 57:
                c -= 48
            elif 97 <= c <= 102:
                c -= 87
            elif 65 <= c <= 70:
                c -= 55
            else:
                return -1
            v = (v << 4) | c
        return v

    def _crc_ok(self, n):
        """True when token 3 is "-" or the CRC-32 of payload[0:n]. Allocates the CRC int
        and one memoryview (32-bit ports: the CRC may be a long int)."""
        if self._is(3, b"-"):
            return True
        s = self.ts[3]
        if self.te[3] - s != 8:
            return False
        if _crc32 is None:
            return True  # cannot verify here; HELLO said crc=0
        hi = self._hex16(s)
        lo = self._hex16(s + 4)
        if hi < 0 or lo < 0:
            return False
        c = _crc32(self.mv[0:n])
        return ((c >> 16) & 0xFFFF) == hi and (c & 0xFFFF) == lo

    # ---- output -----------------------------------------------------------------------------
    def _put(self, p, b):
        """Copies bytes b into the answer buffer at p; returns the new end."""
        e = p + len(b)
        if e > _OUT_MAX - 1:
            e = _OUT_MAX - 1
            b = b[: e - p]
        self.ob[p:e] = b
        return e

    def _puttok(self, p, k):
        """Copies header token k into the answer (used to echo seq)."""
        hdr = self.hdr
        ob = self.ob
        for i in range(self.ts[k], self.te[k]):
            ob[p] = hdr[i]
            p += 1
        return p

    def _putint(self, p, v):
        """Writes v in decimal at p; returns the new end. Does not allocate (small ints)."""
        ob = self.ob
        if v < 0:
            ob[p] = 45
            p += 1
            v = -v
        q = v
        d = 1
        while q >= 10:
            q //= 10
            d += 1
        e = p + d
        i = e
        while i > p:
            i -= 1
            ob[i] = 48 + v % 10
            v //= 10
        return e

    def _send(self, p):
        ob = self.ob
        ob[p] = 10
        p += 1
        if _MICROPY:
            self._write(ob, p)  # MicroPython streams take a length: no slice
        else:
            self._write(bytes(ob[:p]))
            flush = getattr(self.out, "flush", None)
            if flush is not None:
                flush()

    def _head(self, ok, seq_ok):
        """Starts an answer: "<seq> OK " or "<seq> ERR "; returns the position."""
        p = self._puttok(0, 0) if seq_ok else self._put(0, b"-")
        return self._put(p, b" OK " if ok else b" ERR ")

    def _err(self, seq_ok, code, text):
        self.errors += 1
        p = self._head(False, seq_ok)
        p = self._put(p, code)
        p = self._put(p, b" ")
        p = self._put(p, text)
        self._send(p)

    def _kv(self, p, key, v):
        p = self._put(p, key)
        return self._putint(p, v)

    # ---- commands ---------------------------------------------------------------------------
    def _hello(self):
        if self.nt > 5:
            self._err(True, b"ARGS", b"HELLO takes at most <win>")
            return
        if self.nt == 5:
            w = self._num(4)
            if w < WIN_MIN:
                self._err(True, b"ARGS", b"HELLO win must be a decimal integer >= 128")
                return
            self.win = w
        p = self._head(True, True)
        p = self._put(p, b"HELLO proto=")
        p = self._putint(p, PROTO)
        p = self._put(p, b" fw=")
        p = self._put(p, VERSION.encode())
        p = self._put(p, b" impl=")
        p = self._put(p, sys.implementation.name.encode())
        p = self._put(p, b" platform=")
        p = self._put(p, sys.platform.encode())
        p = self._kv(p, b" buf=", self.bufsize)
        p = self._kv(p, b" max_call_bytes=", self.bufsize - 1)
        p = self._kv(p, b" crc=", 0 if _crc32 is None else 1)
        p = self._kv(p, b" timeout_ms=", self.timeout_ms)
        p = self._kv(p, b" win=", self.win)
        p = self._kv(p, b" grant=", _GRANT)
        self._send(p)

    def _load_policy(self, n):
        import json  # only here: policy loads are rare

        if n > self.bufsize:
            self._err(True, b"POLICY", b"policy text longer than the receive buffer")
            return
        try:
            policy = json.loads(bytes(self.mv[0:n])) if n else None
        except ValueError:
            self._err(True, b"POLICY", b"policy is not valid JSON")
            return
        if policy is not None and type(policy) is not dict:
            self._err(True, b"POLICY", b"policy must be a JSON object")
            return
        if self.nt >= 5:
            t = self._num(4)
            if t < 0:
                self._err(True, b"ARGS", b"POLICY t_ms must be a decimal integer")
                return
            self.host_clock = True
            self.now = t
            if self.nt >= 6 and self._is(5, b"1"):
                self._remove_state(policy)
        else:
            self.host_clock = False
        t0 = ticks_us()
        try:
            self._install(policy)
        except ValueError as e:
            self._err(True, b"POLICY", str(e).encode())
            return
        except MemoryError:
            self._err(True, b"NOMEM", b"max_call_bytes/history too large for this board")
            return
        us = ticks_diff(ticks_us(), t0)
        p = self._head(True, True)
        p = self._kv(p, b"POLICY buf=", self.bufsize)
        p = self._kv(p, b" us=", us)
        self._send(p)

    def _remove_state(self, policy):
        path = policy.get("state_path") if policy else None
        if path:
            try:
                import os

                os.remove(path)
            except OSError:
                pass  # none yet

    def _set_clock(self):
        t = self._num(4)
        if self.nt != 5 or t < 0:
            self._err(True, b"ARGS", b"CLOCK needs <t_ms>")
            return
        self.host_clock = True
        self.now = t
        self._simple(b"CLOCK")

    def _check(self, n):
        if n > self.bufsize:
            n = self.bufsize  # > max_call_bytes: the guard answers TOO_LARGE
        g = self.guard
        check = self.check
        t0 = ticks_us()
        v = check(self.buf, 0, n)
        t1 = ticks_us()
        us = ticks_diff(t1, t0)
        self.checks += 1
        if v:
            self.blocked += 1
        r = self.reasons.get(v)
        if r is None:
            r = g.reason(v).encode()
            self.reasons[v] = r
        p = self._head(True, True)
        p = self._put(p, b"CHECK ")
        p = self._putint(p, v)
        p = self._put(p, b" ")
        p = self._putint(p, g.last_entry())
        p = self._put(p, b" ")
        p = self._putint(p, self.rule_index())
        p = self._put(p, b" ")
        h = g.last_hash_hex()  # None after a malformed call
        p = self._put(p, b"-" if h is None else h.encode())
        p = self._put(p, b" ")
        p = self._putint(p, us)
        p = self._put(p, b" ")
        p = self._putint(p, self.rx_us)
        p = self._put(p, b" ")
        p = self._put(p, r)
        self._send(p)

    def _outcome(self, n):
        if self.nt != 6:
            self._err(True, b"ARGS", b"OUTCOME needs <ok 0|1> <entry|->")
            return
        ok = self._num(4)
        if ok != 0 and ok != 1:
            self._err(True, b"ARGS", b"ok must be 0 or 1")
            return
        entry = None
        if not self._is(5, b"-"):
            neg = self.hdr[self.ts[5]] == 45
            if neg:
                self.ts[5] += 1
            entry = self._num(5)
            if entry < 0:
                self._err(True, b"ARGS", b"entry must be an integer or -")
                return
            if neg:
                entry = -entry
        if n > self.bufsize:
            self._err(True, b"ARGS", b"result longer than the receive buffer: send a digest")
            return
        g = self.guard
        t0 = ticks_us()
        g.outcome(ok == 1, self.buf, 0, n, entry)
        us = ticks_diff(ticks_us(), t0)
        self.outcomes += 1
        p = self._head(True, True)
        p = self._put(p, b"OUTCOME ")
        p = self._putint(p, us)
        self._send(p)

    def _stats(self):
        gc.collect()
        p = self._head(True, True)
        p = self._kv(p, b"STATS mem_free=", gc.mem_free())
        p = self._kv(p, b" mem_alloc=", gc.mem_alloc())
        p = self._kv(p, b" checks=", self.checks)
        p = self._kv(p, b" blocked=", self.blocked)
        p = self._kv(p, b" outcomes=", self.outcomes)
        p = self._kv(p, b" errors=", self.errors)
        p = self._kv(p, b" uptime_ms=", ticks_diff(ticks_ms(), self.t_start))
        p = self._kv(p, b" buf=", self.bufsize)
        p = self._kv(p, b" ticks_us=", ticks_us())
        p = self._kv(p, b" rx_bytes=", self.rx_bytes)
        self._send(p)

    def _simple(self, word):
        p = self._head(True, True)
        p = self._put(p, word)
        self._send(p)

    # ---- the loop ---------------------------------------------------------------------------
    def step(self):
        """Serves one request. Returns False when the loop must end."""
        n = self._line()
        if n < 0:
            if n == _STOP or n == _EOF:
                return False
            if n == _TIMEOUT:
                self._err(False, b"TIMEOUT", b"partial header line, then silence")
            else:
                self._err(False, b"LONGLINE", b"header line longer than 96 bytes, dropped")
            return True
        k = self._split(n)
        seq = self._num(0)
        if k < 4 or seq < 0:
            self._err(seq >= 0, b"GARBAGE", b"expected <seq> <CMD> <len> <crc> [args]")
            return True
        ln = self._num(2)
        cmd = self._cmd()
        if ln < 0:
            self._err(True, b"GARBAGE", b"bad payload length")
            return True
        if ln:
            r = self._payload(ln)
            if r < 0:
                if r == _EOF:
                    return False
                if r == _STALL:
                    self._err(True, b"TIMEOUT", b"payload stalled inside a chunk, frame dropped")
                else:
                    self._err(True, b"TIMEOUT", b"payload cut short, then silence")
                return True
        self.rx_us = ticks_diff(ticks_us(), self.t_rx)
        if cmd < 0:
            self._err(True, b"UNKNOWN", b"unknown command")
            return True
        if ln <= self.bufsize and not self._crc_ok(ln):
            self._err(True, b"CRC", b"payload CRC-32 mismatch, frame dropped")
            return True
        try:
            if cmd == _CHECK:
                self._check(ln)
            elif cmd == _OUTCOME:
                self._outcome(ln)
            elif cmd == _HELLO:
                self._hello()
            elif cmd == _POLICY:
                self._load_policy(ln)
            elif cmd == _RESET:
                self.guard.reset()
                self._simple(b"RESET")
            elif cmd == _STATS:
                self._stats()
            elif cmd == _CLOCK:
                self._set_clock()
            elif cmd == _BYE:
                self._simple(b"BYE")
                return False
        except MemoryError:
            self._err(True, b"NOMEM", b"out of memory while serving")
        except Exception as e:  # never crash on a guard bug: report it and keep serving
            self._err(True, b"EXC", type(e).__name__.encode())
        return True

    def serve(self):
        """Serves until Ctrl-C (outside a payload), BYE or end of input. While serving,
        Ctrl-C is an ordinary byte (micropython.kbd_intr(-1)); restored on exit."""
        kbd = None
        try:
            import micropython

            kbd = getattr(micropython, "kbd_intr", None)
        except ImportError:
            pass
        if kbd is not None:
            kbd(-1)
        try:
            p = self._put(0, b"- OK READY proto=")
            p = self._putint(p, PROTO)
            p = self._put(p, b" fw=")
            p = self._put(p, VERSION.encode())
            p = self._put(p, b" policy=")
            p = self._put(p, self.boot_policy)
            self._send(p)
            while self.step():
                pass
        finally:
            if kbd is not None:
                kbd(3)


def serve(policy=None, timeout_ms=DEFAULT_TIMEOUT_MS):
    """Entry point for main.py: the saved policy file if any, else the board default."""
    if policy is None:
        policy = _load_policy_file(POLICY_FILE)
    Server(policy, timeout_ms=timeout_ms).serve()
