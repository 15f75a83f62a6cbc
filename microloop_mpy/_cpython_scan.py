# microloop_mpy._cpython_scan -- CPython-only fast path of the scanner. It allocates freely
# (CPython has no heap lock) and leans on C code: json.loads, zlib.crc32, bytes.translate.
# It must give bit-identical identities to scan.Scanner (the definition) and must never accept a
# call the reference refuses: whenever anything is off it hands the call to the reference
# scanner, which decides the exact bad-input code. Never imported on MicroPython.
import json
import struct
import zlib

from .crc import SBOX, CrcState
from .scan import Scanner, S_CALL_HI, S_CALL_LO

_TOP_KEYS = frozenset(("tool", "args", "id"))
_crc32 = zlib.crc32
_SEED_S = zlib.crc32(b"s")  # finished CRCs of the tag bytes: crc32(x, seed) = crc32(tag + x)
_SEED_N = zlib.crc32(b"n")
_SEED_K = zlib.crc32(b"k")
_SEED_A = zlib.crc32(b"[")
_pack4 = struct.Struct(">I").pack
_pack_x4 = struct.Struct(">xI").pack
_OBJ = struct.Struct(">BHI")


_CALL_SEED = (S_CALL_HI << 16 | S_CALL_LO) ^ 0xFFFFFFFF  # finished CRC of b"C"


def _pack_obj(count, total):
    return _OBJ.pack(0x7B, count, total)

_EMPTY = b"\x00" * 6
_EMPTY_HASH = zlib.crc32(b"{" + _EMPTY)  # the hash of {}


class _Refuse(Exception):
    """Raised inside the fast path: let the reference scanner judge this call."""


class _Num(str):
    """A number or literal, kept as its raw text (numbers compare by literal text)."""


class _Obj(list):
    """An object, kept as its list of (key, value) pairs."""


def _pairs(pairs):
    if len(pairs) > 1 and len({k for k, _ in pairs}) != len(pairs):
        raise _Refuse
    return _Obj(pairs)


def _refuse_constant(_text):
    raise _Refuse


_LITERALS = {True: _Num("true"), False: _Num("false"), None: _Num("null")}
_LITERAL_HASH = {k: zlib.crc32(b"n" + v.encode()) for k, v in _LITERALS.items()}


class FastCrcState(CrcState):
    """CrcState whose span() runs in C (zlib.crc32); identical registers."""

    def span(self, buf, start, end):
        reg = zlib.crc32(memoryview(buf)[start:end], ((self.hi << 16) | self.lo) ^ 0xFFFFFFFF)
        reg ^= 0xFFFFFFFF
        self.hi = reg >> 16
        self.lo = reg & 0xFFFF


class FastScanner(Scanner):
    """Scanner with a CPython fast path and a cache of recently seen raw calls."""

    def __init__(self, max_depth, key_slots, cache_size=256):
        super().__init__(max_depth, key_slots)
        self._decoder = json.JSONDecoder(
            object_pairs_hook=_pairs,
            parse_float=_Num,
            parse_int=_Num,
            parse_constant=_refuse_constant,
        )
        self._cache = {}
        self._cache_size = cache_size
        self.tool_name = None  # decoded tool name (str), set by the fast path
        self.args_tree = None  # decoded args as _Obj/list/str/_Num, set by the fast path
        self.raw = b""  # the raw call of the last fast-path scan

    def scan(self, buf, start, end):
        if start == 0 and end == len(buf) and type(buf) is bytes:
            raw = buf
        else:
            raw = bytes(buf[start:end])
        hit = self._cache.get(raw)
        if hit is None:
            try:
                hit = self._fast(raw)
            except (_Refuse, ValueError, RecursionError, UnicodeError, TypeError):
                hit = None
            if hit is None:
                self.tool_name = None
                self.args_tree = None
                return Scanner.scan(self, buf, start, end)
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[raw] = hit
        (self.call_h, self.call_l, self.tool_h, self.tool_l, self.tool_n,
         self.tool_name, self.args_tree) = hit
        self.raw = raw  # tool_s/args_s are stale now: with tool_name set, nothing reads them
        return 0

    def tool_is(self, buf, name):
        if self.tool_name is None:
            return Scanner.tool_is(self, buf, name)
        return self.tool_name.encode("utf-8") == name

    # -- the fast path ---------------------------------------------------------------------
    def _fast(self, raw):
        text = raw.decode("utf-8")  # strict: overlong forms, encoded surrogates refused
        top = self._decoder.decode(text)
        if type(top) is not _Obj or not top:
            raise _Refuse
        if len(top) > self.key_slots:
            raise _Refuse
        tool = None
        name = None
        args = None
        ah = _EMPTY_HASH
        for n, (key, value) in enumerate(top):
            if key not in _TOP_KEYS:
                raise _Refuse
            if key == "tool":
                if type(value) is not str or not value:
                    raise _Refuse
                tool = value.encode("utf-8")  # a lone surrogate raises: refused
                name = value
            elif key == "args":
                if type(value) is not _Obj:
                    raise _Refuse
                args = value
                ah = self._hash(value, 2, n + 1)
            elif type(value) is str:
                value.encode("utf-8")  # the id: only validated (a lone surrogate raises)
            else:
                self._hash(value, 2, n + 1)
        if tool is None:
            raise _Refuse
        tool_reg = _crc32(tool, _CALL_SEED) ^ 0xFFFFFFFF
        call = _crc32(_pack_x4(ah), tool_reg ^ 0xFFFFFFFF)
        return (call >> 16, call & 0xFFFF, tool_reg >> 16, tool_reg & 0xFFFF, len(tool),
                name, args if args is not None else _Obj())

    def _hash(self, value, depth, keys_open):
        """Finished hash of a decoded value, exactly as scan.Scanner defines it."""
        t = type(value)
        if t is str:
            return _crc32(value.encode("utf-8"), _SEED_S)
        if t is _Num:
            return _crc32(value.encode("ascii"), _SEED_N)
        if t is _Obj:
            if depth > self.max_depth:
                raise _Refuse
            total = 0
            opened = keys_open
            for key, member in value:
                opened += 1
                if opened > self.key_slots:
                    raise _Refuse
                mt = type(member)
                if mt is str:
                    vh = _crc32(member.encode("utf-8"), _SEED_S)
                elif mt is _Num:
                    vh = _crc32(member.encode("ascii"), _SEED_N)
                elif mt is bool or member is None:
                    vh = _LITERAL_HASH[member]
                else:
                    vh = self._hash(member, depth + 1, opened)
                m = _crc32(_pack_x4(vh), _crc32(key.encode("utf-8"), _SEED_K))
                total += _crc32(_pack4(m).translate(SBOX))
            return _crc32(_pack_obj(len(value) & 0xFFFF, total & 0xFFFFFFFF))
        if t is list:
            if depth > self.max_depth:
                raise _Refuse
            return _crc32(b"".join([_pack4(self._hash(v, depth + 1, keys_open)) for v in value]),
                          _SEED_A)
        lit = _LITERALS.get(value) if (value is None or t is bool) else None
        if lit is None:
            raise _Refuse
        return _crc32(lit.encode("ascii"), _SEED_N)


class TreeMatcher:
    """Rule conditions over the decoded call the fast path parsed (CPython). Must answer exactly
    as matcher.RawMatcher does on the raw bytes (the rule trajectories compare both runtimes)."""

    def __init__(self, scanner):
        self.sc = scanner
        self.value = None
        self._text = {}  # a rule's bytes (names, keys, values) -> str, decoded once
        self._masks = {}  # tool name -> which rules' tool patterns match it

    def _str(self, data):
        text = self._text.get(data)
        if text is None:
            text = self._text[data] = data.decode("utf-8")
        return text

    def tool_mask(self, rules):
        # tool names repeat: one mask per name, computed once (per Guard: rules are fixed)
        tool = self.sc.tool_name
        mask = self._masks.get(tool)
        if mask is None:
            if len(self._masks) >= 256:
                self._masks.clear()
            mask = self._masks[tool] = bytes(rules.fill_tool_mask(self, bytearray(rules.n)))
        return mask

    def tool_matches(self, name, prefix):
        tool = self.sc.tool_name
        name = self._str(name)
        return tool.startswith(name) if prefix else tool == name

    def find(self, path):
        node = self.sc.args_tree
        for seg in path:
            if type(node) is not _Obj:
                return False
            key = self._str(seg)
            for k, v in node:
                if k == key:
                    node = v
                    break
            else:
                return False
        self.value = node
        return True

    def value_equals(self, is_str, text):
        value = self.value
        if is_str:
            return type(value) is str and value == self._str(text)
        if type(value) is str:
            return False
        if type(value) is _Num:
            return value == self._str(text)
        lit = _LITERALS.get(value) if (value is None or type(value) is bool) else None
        return lit is not None and lit == self._str(text)

    def value_startswith(self, prefix):
        value = self.value
        return type(value) is str and value.startswith(self._str(prefix))

    def value_has_dotdot(self):
        value = self.value
        return type(value) is str and ".." in value.split("/")

    def value_search(self, regex):
        value = self.value
        return type(value) is str and regex.search(value) is not None

    def schema_error(self, validator):
        for error in validator.iter_errors(_plain(self.sc.args_tree)):
            return error.message
        return None


def _plain(node):
    """The decoded tree as plain Python values (dict, list, str, int/float, bool, None)."""
    t = type(node)
    if t is _Obj:
        return {k: _plain(v) for k, v in node}
    if t is list:
        return [_plain(v) for v in node]
    if t is _Num:
        return json.loads(node)
    return node
