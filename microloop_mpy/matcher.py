# microloop_mpy.matcher -- answers the rule engine's questions about the call just scanned by
# walking its raw bytes again (tool name, the value at an arg path, comparisons on decoded text).
# Never allocates: indexes into the caller's buffer, the scanner's preallocated registers.
_QUOTE = 0x22
_BSLASH = 0x5C


class RawMatcher:
    """Rule conditions over the raw call bytes (every runtime)."""

    def __init__(self, scanner):
        self.sc = scanner
        self.buf = b""
        self.end = 0
        self.vs = -1  # span of the value found by find()
        self.ve = -1

    def bind(self, buf, end):
        self.buf = buf
        self.end = end

    def tool_mask(self, rules):
        """Which rules' tool patterns match the call's tool (rules.tmask). Does not allocate."""
        return rules.fill_tool_mask(self, rules.tmask)

    def tool_matches(self, name, prefix):
        sc = self.sc
        return sc.decoded_cmp(self.buf, sc.tool_s, self.end, name, prefix) == 1

    def find(self, path):
        """Locate the value at a dotted path (tuple of key bytes) inside args; True if found.
        A path never goes through an array."""
        sc = self.sc
        buf = self.buf
        end = self.end
        i = sc.args_s
        if i < 0:
            return False
        last = len(path) - 1
        for d in range(last + 1):
            if buf[i] != 0x7B:
                return False
            seg = path[d]
            i = sc.ws(buf, i + 1, end)
            found = -1
            while i < end and buf[i] == _QUOTE:
                key = i + 1
                i = sc.string(buf, key, end, 0, 0)
                i = sc.ws(buf, i, end)
                i = sc.ws(buf, i + 1, end)  # past ':'
                if sc.decoded_cmp(buf, key, end, seg, False) == 1:
                    found = i
                    break
                i = sc.value(buf, i, end, 2)
                if i < 0:
                    return False
                i = sc.ws(buf, i, end)
                if i < end and buf[i] == 0x2C:
                    i = sc.ws(buf, i + 1, end)
            if found < 0:
                return False
            i = found
        self.vs = i
        self.ve = sc.value(buf, i, end, 2)
        return self.ve > 0

    def value_equals(self, is_str, text):
        buf = self.buf
        vs = self.vs
        if is_str:
            return buf[vs] == _QUOTE and self.sc.decoded_cmp(buf, vs + 1, self.end, text, False) == 1
        n = len(text)
        if buf[vs] == _QUOTE or self.ve - vs != n:
            return False
        for k in range(n):
            if buf[vs + k] != text[k]:
                return False
        return True

    def value_startswith(self, prefix):
        buf = self.buf
        vs = self.vs
        return buf[vs] == _QUOTE and self.sc.decoded_cmp(buf, vs + 1, self.end, prefix, True) == 1

    def value_has_dotdot(self):
        """The string value has a `..` segment: between two '/', or at its start or end."""
        buf = self.buf
        sc = self.sc
        i = self.vs
        end = self.end
        if buf[i] != _QUOTE:
            return False
        i += 1
        seg = 0  # bytes in the current segment
        dots = 0  # leading dots in it
        u = sc.u8
        while i < end:
            b = buf[i]
            if b == _QUOTE:
                return seg == 2 and dots == 2
            if b == _BSLASH:  # an escape: its decoded bytes
                i = sc._escape(buf, i + 1, end)
                if i < 0:
                    return False
                k = sc.n
            else:  # a raw byte
                u[0] = b
                k = 1
                i += 1
            for t in range(k):
                c = u[t]
                if c == 0x2F:
                    if seg == 2 and dots == 2:
                        return True
                    seg = 0
                    dots = 0
                else:
                    if c == 0x2E and dots == seg:
                        dots += 1
                    seg += 1
        return False

    # -- CPython-only conditions (the policy refuses them on MicroPython) --------------------
    def _decoded(self):
        import json

        return json.loads(bytes(self.buf[self.vs:self.ve]).decode("utf-8"))

    def value_search(self, regex):
        value = self._decoded()
        return isinstance(value, str) and regex.search(value) is not None

    def schema_error(self, validator):
        import json

        sc = self.sc
        if sc.args_s < 0:
            args = {}
        else:
            args = json.loads(bytes(self.buf[sc.args_s:sc.args_e]).decode("utf-8"))
        for error in validator.iter_errors(args):
            return error.message
        return None
