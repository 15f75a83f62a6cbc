# microloop_mpy.scan -- the reference scanner: validates one call as strict RFC 8259 JSON in
# strict UTF-8 (RFC 3629) and computes its identity hash while it reads the bytes.
# This module is the definition of the hash (README "Hash definition"); every other path
# (the CPython fast path) must give bit-identical results.
# Never allocates after __init__: no slicing, no strings, no tuples; results go to attributes.
# Errors are returned as negative codes (-code), never raised.
from ._compat import zeros, const
from ._twin import crc_plain, crc_span, skip_ws, fold_member, fold_hash, find_pair
from ._twin import obj_members
from .crc import SBOX, crc_state, tables16
from . import codes

TLO, THI = tables16()  # this scanner never makes an int >= 2**30: 16-bit halves

_QUOTE = const(0x22)
_BSLASH = const(0x5C)
_MAX_DEPTH_LIMIT = const(64)  # recursion bound for small device stacks; policy max_depth <= this

# negative error codes, returned through the recursive descent
_E_MALFORMED = const(-10)
_E_DEEP = const(-12)
_E_DUP = const(-13)
_E_UTF8 = const(-15)
_E_SURR = const(-16)
_E_CTRL = const(-17)
_E_NUM = const(-18)
_E_UNKNOWN = const(-19)
_E_TOOL = const(-20)
_E_ARGS = const(-21)
_E_TRUNC = const(-22)
_E_KEYS = const(-23)


def _seed(tag):
    # CRC register after one tag byte, from the initial register
    return crc_state(0xFFFF, 0xFFFF, bytes((tag,)))


S_STR_HI, S_STR_LO = _seed(0x73)  # b"s": string value
S_NUM_HI, S_NUM_LO = _seed(0x6E)  # b"n": number or literal, over its raw text
S_KEY_HI, S_KEY_LO = _seed(0x6B)  # b"k": object key
S_ARR_HI, S_ARR_LO = _seed(0x5B)  # b"[": array
S_OBJ_HI, S_OBJ_LO = _seed(0x7B)  # b"{": object
S_CALL_HI, S_CALL_LO = _seed(0x43)  # b"C": call identity = CRC(b"C" + tool + b"\0" + args hash)


def key_id(name):
    """(hi, lo) finished key identity of a key given as UTF-8 bytes (allocates; for compiling)."""
    hi, lo = crc_state(S_KEY_HI, S_KEY_LO, name)
    return hi ^ 0xFFFF, lo ^ 0xFFFF


def tool_state(name):
    """(hi, lo) CRC register after b"C" + tool name bytes (allocates; for compiling)."""
    return crc_state(S_CALL_HI, S_CALL_LO, name)


# top-level key identities, compared with the decoded length too: CRC32 is injective on inputs
# of equal length up to 4 bytes (b"k" + "tool" is 5 bytes, but a 1-byte prefix is common to
# both sides, so equality still implies equal keys), so these comparisons are exact.
K_TOOL = key_id(b"tool")
K_ARGS = key_id(b"args")
K_ID = key_id(b"id")
# identity of the empty object {}: CRC(b"{" + count(2 bytes) + sum(4 bytes)), all zero
_EMPTY_HI, _EMPTY_LO = crc_state(S_OBJ_HI, S_OBJ_LO, b"\x00" * 6)
EMPTY_OBJ = (_EMPTY_HI ^ 0xFFFF, _EMPTY_LO ^ 0xFFFF)


class Scanner:
    """Strict JSON validator and hasher for one call. All memory is taken here."""

    def __init__(self, max_depth, key_slots):
        self.max_depth = max_depth
        self.key_slots = key_slots
        self.keys_h = zeros("H", key_slots)
        self.keys_l = zeros("H", key_slots)
        self.ktop = 0
        self.u8 = bytearray(4)  # a decoded escape, as UTF-8
        self.st = zeros("H", 12)  # registers handed to the inner loops (_viper/_twin)
        st = self.st  # [6..11]: seed registers for obj_members, never written elsewhere
        st[6] = S_KEY_HI
        st[7] = S_KEY_LO
        st[8] = S_STR_HI
        st[9] = S_STR_LO
        st[10] = S_NUM_HI
        st[11] = S_NUM_LO
        # results of the last string / value
        self.h = 0
        self.l = 0
        self.n = 0
        self.esc = 0
        self.vh = 0
        self.vl = 0
        # results of the last scan() that succeeded
        self.call_h = 0
        self.call_l = 0
        self.tool_h = 0  # register after b"C" + tool name
        self.tool_l = 0
        self.tool_n = 0  # decoded length of the tool name
        self.tool_s = 0  # raw span of the tool string's content, inside the quotes
        self.tool_e = 0
        self.tool_esc = 0
        self.args_s = -1  # raw span of the args object, braces included (-1: no args)
        self.args_e = -1
        self.args_h = 0
        self.args_l = 0
        self.tool_name = None  # decoded tool name: only the CPython fast path sets it
        self.args_tree = None

    # -- strings -------------------------------------------------------------------------
    def string(self, buf, i, end, hi, lo):
        """Scan a string body from just after its opening quote, continuing the CRC register
        (hi, lo) over the DECODED UTF-8 bytes. Returns the index after the closing quote or a
        negative error; the register goes to self.h/self.l, the decoded length to self.n.
        Does not allocate."""
        tlo = TLO
        thi = THI
        st = self.st
        n = 0
        esc = 0
        while True:
            # the run of plain bytes, in the inner loop (viper where the port has it)
            st[0] = hi
            st[1] = lo
            j = crc_plain(buf, i, end, st, tlo, thi)
            hi = st[0]
            lo = st[1]
            n += j - i
            i = j
            if i >= end:
                break
            b = buf[i]
            if b == _QUOTE:
                self.h = hi
                self.l = lo
                self.n = n
                self.esc = esc
                return i + 1
            if b == _BSLASH:
                esc = 1
                i = self._escape(buf, i + 1, end)
                if i < 0:
                    return i
                u = self.u8
                k = self.n  # bytes in u8
                n += k
                for t in range(k):
                    c = (lo ^ u[t]) & 0xFF
                    lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ tlo[c]
                    hi = (hi >> 8) ^ thi[c]
                continue
            if b < 0x20:
                return _E_CTRL
            if b == 0x7F:  # DEL is allowed raw in JSON strings
                k = (lo ^ b) & 0xFF
                lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ tlo[k]
                hi = (hi >> 8) ^ thi[k]
                n += 1
                i += 1
                continue
            # a multi-byte UTF-8 sequence (RFC 3629 table of well-formed sequences)
            if 0xC2 <= b <= 0xDF:
                k = 2
                lo2 = 0x80
                hi2 = 0xBF
            elif 0xE0 <= b <= 0xEF:
                k = 3
                lo2 = 0xA0 if b == 0xE0 else 0x80
                hi2 = 0x9F if b == 0xED else 0xBF
            elif 0xF0 <= b <= 0xF4:
                k = 4
                lo2 = 0x90 if b == 0xF0 else 0x80
                hi2 = 0x8F if b == 0xF4 else 0xBF
            else:
                return _E_UTF8
            if i + k > end:
                return _E_TRUNC if self._utf8_prefix_ok(buf, i, end, lo2, hi2) else _E_UTF8
            c = buf[i + 1]
            if c < lo2 or c > hi2:
                return _E_UTF8
            for t in range(i + 2, i + k):
                c = buf[t]
                if c < 0x80 or c > 0xBF:
                    return _E_UTF8
            for t in range(i, i + k):
                c = (lo ^ buf[t]) & 0xFF
                lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ tlo[c]
                hi = (hi >> 8) ^ thi[c]
            n += k
            i += k
        return _E_TRUNC

    def _utf8_prefix_ok(self, buf, i, end, lo2, hi2):
        # a sequence cut by the end of the span: truncated if what is there is well-formed
        if i + 1 < end:
            c = buf[i + 1]
            if c < lo2 or c > hi2:
                return False
        for t in range(i + 2, end):
            c = buf[t]
            if c < 0x80 or c > 0xBF:
                return False
        return True

    def _hex4(self, buf, i, end):
        # value of 4 hex digits at i, or -1 (bad digit) or -2 (cut short). Does not allocate.
        if i + 4 > end:
            for t in range(i, end):
                if self._hexval(buf[t]) < 0:
                    return -1
            return -2
        v = 0
        for t in range(i, i + 4):
            d = self._hexval(buf[t])
            if d < 0:
                return -1
            v = (v << 4) | d
        return v

    def _hexval(self, c):
        if 0x30 <= c <= 0x39:
            return c - 0x30
        if 0x61 <= c <= 0x66:
            return c - 0x57
        if 0x41 <= c <= 0x46:
            return c - 0x37
        return -1

    def _escape(self, buf, i, end):
        # i: index after the backslash. Writes the decoded char as UTF-8 into self.u8, its
        # length into self.n; returns the index after the escape or a negative error.
        if i >= end:
            return _E_TRUNC
        b = buf[i]
        u = self.u8
        self.n = 1
        if b == 0x22 or b == 0x5C or b == 0x2F:
            u[0] = b
        elif b == 0x62:
            u[0] = 0x08
        elif b == 0x66:
            u[0] = 0x0C
        elif b == 0x6E:
            u[0] = 0x0A
        elif b == 0x72:
            u[0] = 0x0D
        elif b == 0x74:
            u[0] = 0x09
        elif b == 0x75:
            cp = self._hex4(buf, i + 1, end)
            if cp < 0:
                return _E_TRUNC if cp == -2 else _E_MALFORMED
            i += 5
            if 0xDC00 <= cp <= 0xDFFF:
                return _E_SURR
            if 0xD800 <= cp <= 0xDBFF:
                # must be followed by an escaped low surrogate
                if i + 2 > end:
                    if i < end and buf[i] != _BSLASH:
                        return _E_SURR
                    return _E_TRUNC
                if buf[i] != _BSLASH or buf[i + 1] != 0x75:
                    return _E_SURR
                lo_cp = self._hex4(buf, i + 2, end)
                if lo_cp < 0:
                    return _E_TRUNC if lo_cp == -2 else _E_MALFORMED
                if not (0xDC00 <= lo_cp <= 0xDFFF):
                    return _E_SURR
                i += 6
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo_cp - 0xDC00)
            if cp < 0x80:
                u[0] = cp
            elif cp < 0x800:
                u[0] = 0xC0 | (cp >> 6)
                u[1] = 0x80 | (cp & 0x3F)
                self.n = 2
            elif cp < 0x10000:
                u[0] = 0xE0 | (cp >> 12)
                u[1] = 0x80 | ((cp >> 6) & 0x3F)
                u[2] = 0x80 | (cp & 0x3F)
                self.n = 3
            else:
                u[0] = 0xF0 | (cp >> 18)
                u[1] = 0x80 | ((cp >> 12) & 0x3F)
                u[2] = 0x80 | ((cp >> 6) & 0x3F)
                u[3] = 0x80 | (cp & 0x3F)
                self.n = 4
            return i
        else:
            return _E_MALFORMED
        return i + 1

    def decoded_cmp(self, buf, i, end, target, prefix):
        """Compare the decoded content of the (already validated) string whose body starts at
        i with the UTF-8 bytes `target`: 1 when equal, or when it starts with target and
        `prefix` is true; else 0. Does not allocate."""
        n = len(target)
        k = 0
        u = self.u8
        while i < end:
            b = buf[i]
            if b == _QUOTE:
                return 1 if k == n else 0
            if b == _BSLASH:
                i = self._escape(buf, i + 1, end)
                if i < 0:
                    return 0
                m = self.n
                for t in range(m):
                    if k >= n:
                        return 1 if prefix else 0
                    if u[t] != target[k]:
                        return 0
                    k += 1
                continue
            if k >= n:
                return 1 if prefix else 0
            if b != target[k]:
                return 0
            k += 1
            i += 1
        return 0

    def tool_is(self, buf, name):
        """The last scanned call's decoded tool name equals `name` (bytes). Allocation-free."""
        return self.decoded_cmp(buf, self.tool_s, self.tool_e + 1, name, False) == 1

    # -- scalars -------------------------------------------------------------------------
    def _number(self, buf, i, end):
        # strict RFC 8259 number at i; returns the index after it or a negative error.
        j = i
        if buf[j] == 0x2D:  # '-'
            j += 1
            if j >= end:
                return _E_TRUNC
        c = buf[j]
        if c == 0x30:
            j += 1
            if j < end and 0x30 <= buf[j] <= 0x39:
                return _E_NUM  # leading zero
        elif 0x31 <= c <= 0x39:
            j += 1
            while j < end and 0x30 <= buf[j] <= 0x39:
                j += 1
        else:
            return _E_NUM  # '-' then not a digit (e.g. -Infinity)
        if j < end and buf[j] == 0x2E:  # '.'
            j += 1
            if j >= end:
                return _E_TRUNC
            if not (0x30 <= buf[j] <= 0x39):
                return _E_NUM
            while j < end and 0x30 <= buf[j] <= 0x39:
                j += 1
        if j < end and (buf[j] == 0x65 or buf[j] == 0x45):  # e E
            j += 1
            if j < end and (buf[j] == 0x2B or buf[j] == 0x2D):
                j += 1
            if j >= end:
                return _E_TRUNC
            if not (0x30 <= buf[j] <= 0x39):
                return _E_NUM
            while j < end and 0x30 <= buf[j] <= 0x39:
                j += 1
        return j

    def _literal(self, buf, i, end, word):
        # true / false / null, given as a constant bytes word
        n = len(word)
        for t in range(n):
            if i + t >= end:
                return _E_TRUNC
            if buf[i + t] != word[t]:
                return _E_MALFORMED
        return i + n

    def _raw_hash(self, buf, i, j):
        # finished CRC(b"n" + raw text) into self.vh/self.vl
        st = self.st
        st[0] = S_NUM_HI
        st[1] = S_NUM_LO
        crc_span(buf, i, j, st, TLO, THI)
        self.vh = st[0] ^ 0xFFFF
        self.vl = st[1] ^ 0xFFFF

    # -- values --------------------------------------------------------------------------
    def value(self, buf, i, end, depth):
        """Scan one JSON value at i (whitespace already skipped); its finished hash goes to
        self.vh/self.vl. depth is the depth the value would have if it is a container.
        Returns the index after it or a negative error. Does not allocate."""
        if i >= end:
            return _E_TRUNC
        b = buf[i]
        if b == _QUOTE:
            i = self.string(buf, i + 1, end, S_STR_HI, S_STR_LO)
            if i > 0:
                self.vh = self.h ^ 0xFFFF
                self.vl = self.l ^ 0xFFFF
            return i
        if b == 0x7B:
            return self.obj(buf, i + 1, end, depth)
        if b == 0x5B:
            return self.arr(buf, i + 1, end, depth)
        if b == 0x2D or 0x30 <= b <= 0x39:
            j = self._number(buf, i, end)
        elif b == 0x74:
            j = self._literal(buf, i, end, b"true")
        elif b == 0x66:
            j = self._literal(buf, i, end, b"false")
        elif b == 0x6E:
            j = self._literal(buf, i, end, b"null")
        elif b == 0x4E or b == 0x49:  # NaN, Infinity
            return _E_NUM
        else:
            return _E_MALFORMED
        if j > 0:
            self._raw_hash(buf, i, j)
        return j

    def ws(self, buf, i, end):
        """Index of the first non-whitespace byte at or after i. Does not allocate."""
        return skip_ws(buf, i, end)

    def _push_key(self, base):
        # push the finished key identity (self.h/self.l are the register after the key);
        # returns 0, or an error if the key repeats one of this object's keys.
        kh = self.h ^ 0xFFFF
        kl = self.l ^ 0xFFFF
        top = self.ktop
        if find_pair(self.keys_h, self.keys_l, base, top, kh, kl):
            return _E_DUP
        if top >= self.key_slots:
            return _E_KEYS
        self.keys_h[top] = kh
        self.keys_l[top] = kl
        self.ktop = top + 1
        return 0

    def obj(self, buf, i, end, depth):
        """Scan an object body from just after '{'. Its hash is order-free:
        CRC(b"{" + count(2 bytes BE) + sum32(mix(member hash))(4 bytes BE)), where a member
        hash is CRC(b"k" + key + b"\\0" + value hash) and mix(x) is the CRC of the S-boxed
        bytes of x. Returns the index after '}' or a negative error. Does not allocate."""
        if depth > self.max_depth:
            return _E_DEEP
        tlo = TLO
        thi = THI
        sbox = SBOX
        st = self.st
        base = self.ktop
        count = 0
        sh = 0
        sl = 0
        i = skip_ws(buf, i, end)
        if i < end and buf[i] == 0x7D:
            i += 1
        else:
            keys_h = self.keys_h
            keys_l = self.keys_l
            slots = self.key_slots
            while True:
                # members of the common shape go through the inner loop (viper where the port
                # has it); it stops at the first member it cannot take, for the code below
                st[0] = sh
                st[1] = sl
                st[2] = count
                st[3] = self.ktop
                i = obj_members(buf, i, end, st, tlo, thi, sbox, keys_h, keys_l, base, slots)
                sh = st[0]
                sl = st[1]
                count = st[2]
                self.ktop = st[3]
                done = st[4]
                if done == 1:
                    break
                if done == 0:
                    # one member, the general way
                    if i >= end:
                        return _E_TRUNC
                    if buf[i] != _QUOTE:
                        return _E_MALFORMED
                    i = self.string(buf, i + 1, end, S_KEY_HI, S_KEY_LO)
                    if i < 0:
                        return i
                    e = self._push_key(base)
                    if e < 0:
                        return e
                    mh = self.h
                    ml = self.l
                    i = skip_ws(buf, i, end)
                    if i >= end:
                        return _E_TRUNC
                    if buf[i] != 0x3A:
                        return _E_MALFORMED
                    i = skip_ws(buf, i + 1, end)
                    i = self.value(buf, i, end, depth + 1)
                    if i < 0:
                        return i
                    # member hash and its mix, added to the sum (see _twin.fold_member)
                    st[0] = mh
                    st[1] = ml
                    st[2] = self.vh
                    st[3] = self.vl
                    st[4] = sh
                    st[5] = sl
                    fold_member(st, tlo, thi, sbox)
                    sh = st[4]
                    sl = st[5]
                    count = (count + 1) & 0xFFFF
                # after a member: ',' and the next one, or '}'
                i = skip_ws(buf, i, end)
                if i >= end:
                    return _E_TRUNC
                b = buf[i]
                if b == 0x2C:
                    i = skip_ws(buf, i + 1, end)
                    continue
                if b == 0x7D:
                    i += 1
                    break
                return _E_MALFORMED
        self.ktop = base
        self._obj_hash(count, sh, sl)
        return i

    def _obj_hash(self, count, sh, sl):
        # finished CRC(b"{" + count BE16 + sum BE32) into self.vh/self.vl
        hi = S_OBJ_HI
        lo = S_OBJ_LO
        tlo = TLO
        thi = THI
        for t in range(6):
            if t == 0:
                b = count >> 8
            elif t == 1:
                b = count & 0xFF
            elif t == 2:
                b = sh >> 8
            elif t == 3:
                b = sh & 0xFF
            elif t == 4:
                b = sl >> 8
            else:
                b = sl & 0xFF
            c = (lo ^ b) & 0xFF
            lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ tlo[c]
            hi = (hi >> 8) ^ thi[c]
        self.vh = hi ^ 0xFFFF
        self.vl = lo ^ 0xFFFF

    def arr(self, buf, i, end, depth):
        """Scan an array body from just after '['. Its hash is CRC(b"[" + each element's
        hash, 4 bytes BE). Returns the index after ']' or a negative error. Allocation-free."""
        if depth > self.max_depth:
            return _E_DEEP
        tlo = TLO
        thi = THI
        st = self.st
        hi = S_ARR_HI
        lo = S_ARR_LO
        i = skip_ws(buf, i, end)
        if i < end and buf[i] == 0x5D:
            i += 1
        else:
            while True:
                i = self.value(buf, i, end, depth + 1)
                if i < 0:
                    return i
                st[0] = hi
                st[1] = lo
                st[2] = self.vh
                st[3] = self.vl
                fold_hash(st, tlo, thi)
                hi = st[0]
                lo = st[1]
                i = skip_ws(buf, i, end)
                if i >= end:
                    return _E_TRUNC
                b = buf[i]
                if b == 0x2C:
                    i = skip_ws(buf, i + 1, end)
                    continue
                if b == 0x5D:
                    i += 1
                    break
                return _E_MALFORMED
        self.vh = hi ^ 0xFFFF
        self.vl = lo ^ 0xFFFF
        return i

    # -- the call ------------------------------------------------------------------------
    def scan(self, buf, start, end):
        """Validate buf[start:end] as one call and compute its identity. Returns 0, or a
        positive bad-input code. Results: call_h/call_l (finished identity), the tool name's
        register and raw span, the args span. Does not allocate."""
        self.ktop = 0
        i = skip_ws(buf, start, end)
        if i >= end:
            return codes.TRUNCATED
        if buf[i] != 0x7B:
            return codes.MALFORMED
        i = skip_ws(buf, i + 1, end)
        have_tool = 0
        self.args_s = -1
        self.args_e = -1
        ah = EMPTY_OBJ[0]
        al = EMPTY_OBJ[1]
        if i < end and buf[i] == 0x7D:
            return codes.BAD_TOOL
        while True:
            if i >= end:
                return codes.TRUNCATED
            if buf[i] != _QUOTE:
                return codes.MALFORMED
            i = self.string(buf, i + 1, end, S_KEY_HI, S_KEY_LO)
            if i < 0:
                return -i
            e = self._push_key(0)
            if e < 0:
                return -e
            kh = self.h ^ 0xFFFF
            kl = self.l ^ 0xFFFF
            kn = self.n
            if kn == 4 and kh == K_TOOL[0] and kl == K_TOOL[1]:
                which = 1
            elif kn == 4 and kh == K_ARGS[0] and kl == K_ARGS[1]:
                which = 2
            elif kn == 2 and kh == K_ID[0] and kl == K_ID[1]:
                which = 3
            else:
                return codes.UNKNOWN_KEY
            i = skip_ws(buf, i, end)
            if i >= end:
                return codes.TRUNCATED
            if buf[i] != 0x3A:
                return codes.MALFORMED
            i = skip_ws(buf, i + 1, end)
            if i >= end:
                return codes.TRUNCATED
            b = buf[i]
            if which == 1:
                if b != _QUOTE:
                    # still validate what it is, so a truncated value reads as truncated
                    j = self.value(buf, i, end, 2)
                    return -j if j < 0 else codes.BAD_TOOL
                s = i + 1
                i = self.string(buf, s, end, S_CALL_HI, S_CALL_LO)
                if i < 0:
                    return -i
                if self.n == 0:
                    return codes.BAD_TOOL
                have_tool = 1
                self.tool_h = self.h
                self.tool_l = self.l
                self.tool_n = self.n
                self.tool_esc = self.esc
                self.tool_s = s
                self.tool_e = i - 1
            elif which == 2:
                if b != 0x7B:
                    j = self.value(buf, i, end, 2)
                    return -j if j < 0 else codes.BAD_ARGS
                s = i
                i = self.obj(buf, i + 1, end, 2)
                if i < 0:
                    return -i
                ah = self.vh
                al = self.vl
                self.args_s = s
                self.args_e = i
            else:
                i = self.value(buf, i, end, 2)
                if i < 0:
                    return -i
            i = skip_ws(buf, i, end)
            if i >= end:
                return codes.TRUNCATED
            b = buf[i]
            if b == 0x2C:
                i = skip_ws(buf, i + 1, end)
                continue
            if b == 0x7D:
                i += 1
                break
            return codes.MALFORMED
        if skip_ws(buf, i, end) != end:
            return codes.MALFORMED  # trailing bytes after the call
        if not have_tool:
            return codes.BAD_TOOL
        self.args_h = ah
        self.args_l = al
        # call identity: the tool register, then b"\0", then the args hash (BE)
        hi = self.tool_h
        lo = self.tool_l
        tlo = TLO
        thi = THI
        c = lo & 0xFF
        lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ tlo[c]
        hi = (hi >> 8) ^ thi[c]
        c = (lo ^ (ah >> 8)) & 0xFF
        lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ tlo[c]
        hi = (hi >> 8) ^ thi[c]
        c = (lo ^ ah) & 0xFF
        lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ tlo[c]
        hi = (hi >> 8) ^ thi[c]
        c = (lo ^ (al >> 8)) & 0xFF
        lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ tlo[c]
        hi = (hi >> 8) ^ thi[c]
        c = (lo ^ al) & 0xFF
        lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ tlo[c]
        hi = (hi >> 8) ^ thi[c]
        self.call_h = hi ^ 0xFFFF
        self.call_l = lo ^ 0xFFFF
        return 0
