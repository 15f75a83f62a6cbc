# microloop_mpy.state -- the state file that lets budgets (and the loop history) survive a
# reboot. Written atomically (temp file, then rename), checksummed, versioned; one format on
# every runtime. Allocates (file I/O): called from check() only when a budget reservation runs
# out, at most once per B allowed calls of a count rule, never otherwise.
#
# Format (all integers big-endian):
#   b"MLGS" | version u8 (1) | rules u16 | per rule: key u32, kind u8 (0 lifetime, 1 per_s),
#   value u32 (reserved spends) | entries u16 | seq u32 | per entry, oldest first:
#   call u32, tool u32, outcome u32, flags u8 | CRC32 u32 of everything before it.
from .crc import CrcState

MAGIC = b"MLGS"
VERSION = 1


def _u16(out, v):
    out.append((v >> 8) & 0xFF)
    out.append(v & 0xFF)


def _u32(out, hi, lo):
    _u16(out, hi)
    _u16(out, lo)


def _get16(data, i):
    return (data[i] << 8) | data[i + 1]


def encode(rules, reserved, history):
    """The state file's bytes for these rules' reservations and this history."""
    out = bytearray(MAGIC)
    out.append(VERSION)
    counts = [i for i in range(rules.n) if rules.kind[i] == 2]
    _u16(out, len(counts))
    for i in counts:
        _u32(out, rules.key_h[i], rules.key_l[i])
        out.append(1 if rules.per_ms[i] else 0)
        v = reserved[i]
        _u32(out, (v >> 16) & 0xFFFF, v & 0xFFFF)
    n = history.n
    _u16(out, n)
    _u32(out, (history.seq >> 16) & 0xFFFF, history.seq & 0xFFFF)
    for back in range(n - 1, -1, -1):
        s = history.slot(back)
        _u32(out, history.ch[s], history.cl[s])
        _u32(out, history.th[s], history.tl[s])
        _u32(out, history.oh[s], history.ol[s])
        out.append(history.fl[s])
    crc = CrcState()
    crc.span(out, 0, len(out))
    _u32(out, crc.hi ^ 0xFFFF, crc.lo ^ 0xFFFF)
    return out


def decode(data):
    """(records {key: (kind, value)}, entries [(ch, cl, th, tl, oh, ol, fl)], seq) or None when
    the data is torn, corrupt or of another version."""
    try:
        if len(data) < 15 or data[:4] != MAGIC or data[4] != VERSION:
            return None
        crc = CrcState()
        crc.span(data, 0, len(data) - 4)
        if _get16(data, len(data) - 4) != crc.hi ^ 0xFFFF:
            return None
        if _get16(data, len(data) - 2) != crc.lo ^ 0xFFFF:
            return None
        i = 5
        records = {}
        for _ in range(_get16(data, i)):
            key = (_get16(data, i + 2), _get16(data, i + 4))
            kind = data[i + 6]
            value = (_get16(data, i + 7) << 16) | _get16(data, i + 9)
            records[key] = (kind, value)
            i += 9
        i += 2
        n = _get16(data, i)
        seq = (_get16(data, i + 2) << 16) | _get16(data, i + 4)
        i += 6
        entries = []
        for _ in range(n):
            entries.append((_get16(data, i), _get16(data, i + 2), _get16(data, i + 4),
                            _get16(data, i + 6), _get16(data, i + 8), _get16(data, i + 10),
                            data[i + 12]))
            i += 13
        if i != len(data) - 4:
            return None
        return records, entries, seq
    except IndexError:
        return None


def write(path, data):
    """Write atomically: a temp file, then a rename over the old file. Raises OSError."""
    import os

    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    try:
        os.rename(tmp, path)
    except OSError:
        # some filesystems (FAT on a board) refuse to rename onto an existing file: remove,
        # then rename; a cut between the two leaves the complete temp file, which read() takes
        os.remove(path)
        os.rename(tmp, path)


def read(path):
    """The state file's bytes (an empty file is a torn one), None when there is none, or
    b"" (read as torn: fail closed) when a file exists but cannot be read. Existence is asked
    of os.stat, not told from an errno: errno values differ between ports."""
    import os

    for name in (path, path + ".tmp"):
        try:
            os.stat(name)
        except OSError:
            continue
        try:
            with open(name, "rb") as f:
                return f.read()
        except OSError:
            return b""
    return None
