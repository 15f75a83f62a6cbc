# microloop_mpy._cpython_scan -- CPython-only fast path of the scanner. It allocates freely
# (CPython has no heap lock) and leans on C code: json's C scanner, zlib.crc32, bytes.translate.
# It must give bit-identical identities to scan.Scanner (the definition) and must never accept a
# call the reference refuses: whenever anything is off it hands the call to the reference
# scanner, which decides the exact bad-input code. Refusing too much is always safe (it only
# costs time); accepting is exact. Never imported on MicroPython.
#
# Where the time goes (a ~160-byte call): json's C scanner builds the tree without one Python
# call (no hook written in Python: objects are tuples of pairs, numbers their raw text as bytes
# via str.encode), then one Python loop per object hashes its members. A member whose value is a
# scalar is looked up by its (key, value) pair in a bounded dict: agents repeat keys and most
# small values ("limit": 4096, "follow": false), so only the members that changed pay for
# their three CRCs and the S-box.
import json
import struct
import zlib

from .crc import SBOX, CrcState
from .scan import Scanner, S_CALL_HI, S_CALL_LO

_crc32 = zlib.crc32
_SEED_S = zlib.crc32(b"s")  # finished CRCs of the tag bytes: crc32(x, seed) = crc32(tag + x)
_SEED_N = zlib.crc32(b"n")
_SEED_K = zlib.crc32(b"k")
_SEED_A = zlib.crc32(b"[")
_CALL_SEED = (S_CALL_HI << 16 | S_CALL_LO) ^ 0xFFFFFFFF  # finished CRC of b"C"
_pack4 = struct.Struct(">I").pack
_pack_x4 = struct.Struct(">xI").pack  # b"\0" + a value hash: what follows a key's bytes
_pack_obj = struct.Struct(">BHI").pack  # b"{" + member count + sum of the mixed members
_WS = " \t\n\r"  # JSON's whitespace (RFC 8259), the only bytes allowed around the call

# Bounds of the caches (entries, and the length of a key + value worth keeping): memory stays
# at a few MB whatever the calls hold, and a full cache is simply emptied.
_MEMBERS_MAX = 4096
_KEYS_MAX = 1024
_SHORT = 96

# literals come out of json's scanner as True / False / None
_LITERAL_TEXT = {True: b"true", False: b"false", None: b"null"}
_LITERAL_HASH = {k: zlib.crc32(v, _SEED_N) for k, v in _LITERAL_TEXT.items()}


class _Refuse(Exception):
    """Raised inside the fast path: let the reference scanner judge this call."""


def _refuse_constant(_text):
    raise _Refuse  # NaN, Infinity, -Infinity: not JSON


# The tree the fast path works on, built by json's C scanner without one Python-level call:
# an object is a tuple of its (key, value) pairs in document order, an array a list, a string a
# str, a number its raw text as bytes (str.encode: numbers hash by their literal text), and
# true / false / null are True / False / None. No two of these types compare equal, which
# makes a (key, scalar value) pair a sound cache key.
_DECODER = json.JSONDecoder(object_pairs_hook=tuple, parse_float=str.encode,
                            parse_int=str.encode, parse_constant=_refuse_constant)
_REFUSED = (_Refuse, ValueError, StopIteration, RecursionError, UnicodeError, TypeError)


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
        self._scan_once = _DECODER.scan_once  # json's C scanner: (value, end) at an index
        self._cache = {}  # raw call -> results (a looping agent repeats whole calls)
        self._cache_size = cache_size
        self._members = {}  # (key, scalar value) -> its mixed member hash
        self._keys = {}  # key -> finished CRC of b"k" + key
        self._tools = {}  # tool name -> (register after b"C" + name, encoded length)
        self.tool_name = None  # decoded tool name (str), set by the fast path
        self.args_tree = None  # decoded args (see the tree above), set by the fast path
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
            except _REFUSED:
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
        # json's C scanner reads one value at an index; StopIteration or ValueError when none
        # starts there
        try:
            top, end = self._scan_once(text, 0)
        except StopIteration:  # blanks before the call: read from the first other character
            top, end = self._scan_once(text, len(text) - len(text.lstrip(_WS)))
        if end != len(text) and text[end:].strip(_WS):
            raise _Refuse  # more than blanks after the value
        if type(top) is not tuple or not top or len(top) > self.key_slots:
            raise _Refuse
        n = len(top)
        tool = args = ident = _Refuse  # _Refuse: not seen yet (a key seen twice is refused)
        for key, value in top:
            if key == "tool" and tool is _Refuse:
                tool = value
            elif key == "args" and args is _Refuse:
                args = value
            elif key == "id" and ident is _Refuse:
                ident = value
            else:
                raise _Refuse  # another key, or a duplicate
        if type(tool) is not str or not tool:
            raise _Refuse
        if args is _Refuse:
            args = ()
        elif type(args) is not tuple:
            raise _Refuse
        if type(ident) is str:
            ident.encode("utf-8")  # only validated (a lone surrogate raises)
        elif ident is not _Refuse:
            self._fast_value(ident, 2, n)  # only validated
        known = self._tools.get(tool)
        if known is None:
            enc = tool.encode("utf-8")  # a lone surrogate raises: refused
            known = (_crc32(enc, _CALL_SEED), len(enc))
            if len(self._tools) >= 256:
                self._tools.clear()
            self._tools[tool] = known
        # the call: CRC of b"C" + tool + b"\0" + args hash; tool_h/l: the register after the tool
        call = _crc32(_pack_x4(self._fast_obj(args, 2, n)), known[0])
        reg = known[0] ^ 0xFFFFFFFF
        return (call >> 16, call & 0xFFFF, reg >> 16, reg & 0xFFFF, known[1], tool, args)

    def _fast_obj(self, pairs, depth, keys_open):
        """Finished hash of an object, exactly as scan.Scanner defines it: CRC of b"{" + count
        + the 32-bit sum of its members, each mixed (CRC of the S-boxed bytes of the member's
        CRC over b"k" + key + b"\\0" + value hash). keys_open: keys open in the enclosing
        objects, counted generously (at least the reference's count: refusing is safe)."""
        n = len(pairs)
        keys_open += n
        if depth > self.max_depth or keys_open > self.key_slots:
            raise _Refuse
        if n > 1 and len(dict(pairs)) != n:
            raise _Refuse  # a duplicate key
        members = self._members
        total = 0
        for pair in pairs:
            value = pair[1]
            t = type(value)
            if t is tuple or t is list:  # nested: never cached (its limits depend on depth)
                vh = (self._fast_obj(value, depth + 1, keys_open) if t is tuple else
                      self._fast_arr(value, depth + 1, keys_open))
                data = None
            else:
                mixed = members.get(pair)
                if mixed is not None:
                    total += mixed
                    continue
                if t is str:
                    data = value.encode("utf-8")  # a lone surrogate raises: refused
                    vh = _crc32(data, _SEED_S)
                elif t is bytes:
                    data = value
                    vh = _crc32(data, _SEED_N)
                else:
                    data = b""
                    vh = _LITERAL_HASH[value]
            kh = self._keys.get(pair[0])
            if kh is None:
                kh = self._fast_key(pair[0])
            mixed = _crc32(_pack4(_crc32(_pack_x4(vh), kh)).translate(SBOX))
            total += mixed
            if data is not None and len(data) + len(pair[0]) <= _SHORT:
                if len(members) >= _MEMBERS_MAX:
                    members.clear()
                members[pair] = mixed
        return _crc32(_pack_obj(0x7B, n & 0xFFFF, total & 0xFFFFFFFF))

    def _fast_key(self, key):
        kh = _crc32(key.encode("utf-8"), _SEED_K)  # a lone surrogate raises: refused
        if len(key) <= _SHORT:
            if len(self._keys) >= _KEYS_MAX:
                self._keys.clear()
            self._keys[key] = kh
        return kh

    def _fast_arr(self, values, depth, keys_open):
        """Finished hash of an array: CRC of b"[" + each element's hash (4 bytes, BE)."""
        if depth > self.max_depth:
            raise _Refuse
        value = self._fast_value
        return _crc32(b"".join([_pack4(value(v, depth + 1, keys_open)) for v in values]), _SEED_A)

    def _fast_value(self, value, depth, keys_open):
        """Finished hash of any decoded value."""
        t = type(value)
        if t is str:
            return _crc32(value.encode("utf-8"), _SEED_S)
        if t is bytes:
            return _crc32(value, _SEED_N)
        if t is tuple:
            return self._fast_obj(value, depth, keys_open)
        if t is list:
            return self._fast_arr(value, depth, keys_open)
        return _LITERAL_HASH[value]  # True / False / None: the scanner yields nothing else


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
            if type(node) is not tuple:
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
        t = type(value)
        if t is bytes:  # a number: its raw text
            return value == text
        if t is bool or value is None:
            return _LITERAL_TEXT[value] == text
        return False

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
    if t is tuple:
        return {k: _plain(v) for k, v in node}
    if t is list:
        return [_plain(v) for v in node]
    if t is bytes:
        return json.loads(node)
    return node
