# GENERATED from _pass.py by tools/gen_twin.py -- do not edit. The pure-Python twin
# of the viper code there: the same logic, bit for bit, with ptr32 stores masked.
# Never allocates on MicroPython.

# states: 1 a string (i at its opening quote); 2 an object closed; 3 an array closed; 4 a key
# ended; 5 a string value ended; 6 the tool name ended; 0 a value ended with hash vh (these run
# without a skip, where they are reached); 7 ':' due; 8 a value due; 9 a key due; 10 after '{';
# 11 after '['; 12 after a value: ',' or the container's close; 14 after the call; 15 before
# the call (these read a byte: the top of the loop skips whitespace and checks for the end)


def scan_call(buf, i, end, t, w, sb, io):
    max_depth = io[0]
    slots = io[1]
    kbase = io[2]
    ktop = 0
    lvl = 0
    crc = 0
    n = 0
    esc = 0
    ret = 0
    bad = 0
    vh = 0
    have_tool = 0
    b = 0
    o = 0
    sh = 0
    s = 0
    m24 = 0xFFFFFF  # in a local: a load, where the constant is a literal and a branch
    w[13] = (3) & 0xFFFFFFFF  # level 0: the call object
    w[17] = (0) & 0xFFFFFFFF  # its key base
    w[14] = (0) & 0xFFFFFFFF  # which top-level key is being read: 1 tool, 2 args, 3 id
    io[11] = (0) & 0xFFFFFFFF  # args span start + 1 (0: no args)
    state = 15
    while True:
        if state == 1:
            # a string at i (its opening quote), continuing crc (its seed) over its DECODED
            # bytes; n counts them, esc says whether there was an escape; ret: what follows
            i += 1
            n = 0
            esc = 0
            while True:
                s = i
                while i < end:
                    b = buf[i]
                    if sb[b | 0x100]:
                        break  # a control byte, '"', '\\' or a non-ASCII one (table: crc.py)
                    crc = t[(crc ^ b) & 0xFF] ^ ((crc >> 8) & m24)
                    i += 1
                n += i - s
                if i >= end:
                    return 22
                b = buf[i]
                if b == 0x22:
                    i += 1
                    break
                if b < 0x20:
                    return 17  # CONTROL_CHAR
                if b == 0x5C:
                    esc = 1
                    i += 1
                    if i >= end:
                        return 22
                    b = buf[i]
                    cp = 0
                    if b == 0x22 or b == 0x5C or b == 0x2F:
                        cp = b
                    elif b == 0x62:
                        cp = 0x08
                    elif b == 0x66:
                        cp = 0x0C
                    elif b == 0x6E:
                        cp = 0x0A
                    elif b == 0x72:
                        cp = 0x0D
                    elif b == 0x74:
                        cp = 0x09
                    elif b == 0x75:
                        # \uXXXX, and a surrogate pair as two escapes
                        half = 0
                        lo_cp = 0
                        while True:
                            p = i + 1
                            v = 0
                            hexbad = 0
                            while p < i + 5 and p < end:
                                c = buf[p]
                                if c >= 0x30 and c <= 0x39:
                                    v = (v << 4) | (c - 0x30)
                                elif c >= 0x61 and c <= 0x66:
                                    v = (v << 4) | (c - 0x57)
                                elif c >= 0x41 and c <= 0x46:
                                    v = (v << 4) | (c - 0x37)
                                else:
                                    hexbad = 1
                                    break
                                p += 1
                            if hexbad:
                                return 10  # MALFORMED
                            if p < i + 5:
                                return 22  # cut short
                            i += 5
                            if half == 0:
                                cp = v
                                if cp >= 0xDC00 and cp <= 0xDFFF:
                                    return 16  # LONE_SURROGATE
                                if cp < 0xD800 or cp > 0xDBFF:
                                    break
                                # a high surrogate: an escaped low one must follow
                                if i + 2 > end:
                                    if i < end and buf[i] != 0x5C:
                                        return 16
                                    return 22
                                if buf[i] != 0x5C or buf[i + 1] != 0x75:
                                    return 16
                                i += 1  # at the 'u' of the second escape
                                half = 1
                            else:
                                lo_cp = v
                                if lo_cp < 0xDC00 or lo_cp > 0xDFFF:
                                    return 16
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo_cp - 0xDC00)
                                break
                        i -= 1  # the common step below moves past the escape
                    else:
                        return 10
                    i += 1
                    # the code point as UTF-8, into the register: the lead byte, then 6 bits
                    # at a time
                    k = 1
                    sh = 0
                    b = cp
                    if cp >= 0x10000:
                        k = 4
                        sh = 18
                        b = 0xF0 | (cp >> 18)
                    elif cp >= 0x800:
                        k = 3
                        sh = 12
                        b = 0xE0 | (cp >> 12)
                    elif cp >= 0x80:
                        k = 2
                        sh = 6
                        b = 0xC0 | (cp >> 6)
                    while True:
                        crc = t[(crc ^ b) & 0xFF] ^ ((crc >> 8) & m24)
                        if sh == 0:
                            break
                        sh -= 6
                        b = 0x80 | ((cp >> sh) & 0x3F)
                    n += k
                    continue
                # a multi-byte UTF-8 sequence (RFC 3629 table of well-formed sequences)
                if b >= 0xC2 and b <= 0xDF:
                    k = 2
                    lo2 = 0x80
                    hi2 = 0xBF
                elif b >= 0xE0 and b <= 0xEF:
                    k = 3
                    lo2 = 0x80
                    hi2 = 0xBF
                    if b == 0xE0:
                        lo2 = 0xA0
                    if b == 0xED:
                        hi2 = 0x9F
                elif b >= 0xF0 and b <= 0xF4:
                    k = 4
                    lo2 = 0x80
                    hi2 = 0xBF
                    if b == 0xF0:
                        lo2 = 0x90
                    if b == 0xF4:
                        hi2 = 0x8F
                else:
                    return 15  # BAD_UTF8
                if i + k > end:
                    # cut by the end of the span: truncated if what is there is well-formed
                    if i + 1 < end and (buf[i + 1] < lo2 or buf[i + 1] > hi2):
                        return 15
                    p = i + 2
                    while p < end:
                        if buf[p] < 0x80 or buf[p] > 0xBF:
                            return 15
                        p += 1
                    return 22
                if buf[i + 1] < lo2 or buf[i + 1] > hi2:
                    return 15
                p = i + 2
                while p < i + k:
                    if buf[p] < 0x80 or buf[p] > 0xBF:
                        return 15
                    p += 1
                p = i
                while p < i + k:
                    crc = t[(crc ^ buf[p]) & 0xFF] ^ ((crc >> 8) & m24)
                    p += 1
                n += k
                i += k
            state = ret
        if state == 4:
            # a key ended: its identity must not repeat one of this object's keys
            o = 13 + lvl * 5
            w[9] = (~crc) & 0xFFFFFFFF
            j = w[o + 4]
            while j < ktop:
                if w[kbase + j] == w[9]:
                    return 13  # DUPLICATE_KEY
                j += 1
            if ktop >= slots:
                return 23  # TOO_MANY_KEYS
            w[kbase + ktop] = (w[9]) & 0xFFFFFFFF
            ktop += 1
            if lvl == 0:
                if n == 4 and w[9] == w[6]:
                    w[14] = (1) & 0xFFFFFFFF
                elif n == 4 and w[9] == w[7]:
                    w[14] = (2) & 0xFFFFFFFF
                elif n == 2 and w[9] == w[8]:
                    w[14] = (3) & 0xFFFFFFFF
                else:
                    return 19  # UNKNOWN_KEY
            else:
                w[o + 3] = (crc) & 0xFFFFFFFF  # the member register goes on from the key register
            state = 7
            if i < end and buf[i] == 0x3A:
                i += 1  # ':' right after the key (the usual case): a loop turn saved
                state = 8
        if state == 6:
            # the tool name ended: crc is the register after b"C" + name
            if n == 0:
                return 20
            have_tool = 1
            w[10] = (crc) & 0xFFFFFFFF
            io[7] = (n) & 0xFFFFFFFF
            io[9] = (i - 1) & 0xFFFFFFFF
            io[10] = (esc) & 0xFFFFFFFF
            state = 12
        if state == 5:
            vh = ~crc  # a string value ended
            state = 0
        if state == 2:
            # an object closes: CRC(b"{" + count BE16 + sum BE32)
            o = 13 + lvl * 5
            ktop = w[o + 4]
            crc = w[4]
            c = w[o + 1]
            crc = t[(crc ^ (c >> 8)) & 0xFF] ^ ((crc >> 8) & m24)
            crc = t[(crc ^ c) & 0xFF] ^ ((crc >> 8) & m24)
            c = w[o + 2]
            sh = 24
            while sh >= 0:
                crc = t[(crc ^ (c >> sh)) & 0xFF] ^ ((crc >> 8) & m24)
                sh -= 8
            vh = ~crc
            lvl -= 1
            state = 0
        if state == 3:
            # an array closes: its register, finished
            o = 13 + lvl * 5
            vh = ~w[o + 2]
            lvl -= 1
            state = 0
        if state == 0:
            # a value ended with hash vh: it goes into its container
            o = 13 + lvl * 5
            if lvl == 0:
                if bad:
                    return bad
                if w[14] == 2:
                    io[12] = (i) & 0xFFFFFFFF  # args span end (after '}')
                    w[11] = (vh) & 0xFFFFFFFF
            else:
                # member: the key register over b"\0" + value hash (BE), finished, and its mix
                # (the CRC of its S-boxed bytes) added to the sum; element: the array's
                # register over the value hash (BE)
                kind = w[o]
                if kind == 1:
                    crc = w[o + 3]
                    crc = t[crc & 0xFF] ^ ((crc >> 8) & m24)
                else:
                    crc = w[o + 2]
                crc = t[(crc ^ (vh >> 24)) & 0xFF] ^ ((crc >> 8) & m24)
                crc = t[(crc ^ (vh >> 16)) & 0xFF] ^ ((crc >> 8) & m24)
                crc = t[(crc ^ (vh >> 8)) & 0xFF] ^ ((crc >> 8) & m24)
                crc = t[(crc ^ vh) & 0xFF] ^ ((crc >> 8) & m24)
                if kind == 1:
                    c = ~crc
                    crc = t[(0xFF ^ sb[(c >> 24) & 0xFF]) & 0xFF] ^ 0xFFFFFF
                    crc = t[(crc ^ sb[(c >> 16) & 0xFF]) & 0xFF] ^ ((crc >> 8) & m24)
                    crc = t[(crc ^ sb[(c >> 8) & 0xFF]) & 0xFF] ^ ((crc >> 8) & m24)
                    crc = t[(crc ^ sb[c & 0xFF]) & 0xFF] ^ ((crc >> 8) & m24)
                    w[o + 2] = (w[o + 2] + ~crc) & 0xFFFFFFFF
                    w[o + 1] = ((w[o + 1] + 1) & 0xFFFF) & 0xFFFFFFFF
                else:
                    w[o + 2] = (crc) & 0xFFFFFFFF
            state = 12
        if state > 6:
            # a state that reads a byte: whitespace first, then a byte must be there (except
            # after the call, where the end of the span completes it)
            while i < end and buf[i] <= 0x20 and (buf[i] == 0x20 or buf[i] == 0x0A
                                                  or buf[i] == 0x0D or buf[i] == 0x09):
                i += 1
            if i >= end:
                if state != 14:
                    return 22
                if not have_tool:
                    return 20
                # the call identity: the tool register over b"\0" + args hash (BE), finished
                if io[11] == 0:
                    w[11] = (w[12]) & 0xFFFFFFFF  # no args: the hash of {}
                c = w[11]
                crc = w[10]
                crc = t[crc & 0xFF] ^ ((crc >> 8) & m24)
                sh = 24
                while sh >= 0:
                    crc = t[(crc ^ (c >> sh)) & 0xFF] ^ ((crc >> 8) & m24)
                    sh -= 8
                c = ~crc
                io[3] = ((c >> 16) & 0xFFFF) & 0xFFFFFFFF
                io[4] = (c & 0xFFFF) & 0xFFFFFFFF
                c = w[10]
                io[5] = ((c >> 16) & 0xFFFF) & 0xFFFFFFFF
                io[6] = (c & 0xFFFF) & 0xFFFFFFFF
                c = w[11]
                io[13] = ((c >> 16) & 0xFFFF) & 0xFFFFFFFF
                io[14] = (c & 0xFFFF) & 0xFFFFFFFF
                return 0
            b = buf[i]
            if state == 12:
                # after a value: ',' and the next one, or the container's close
                kind = w[13 + lvl * 5]  # 3 the call, 1 an object, 2 an array
                if b == 0x2C:
                    i += 1
                    state = 9
                    if kind == 2:
                        state = 8
                    if i < end and buf[i] == 0x20:
                        i += 1  # one space (the usual case)
                    if i >= end or buf[i] <= 0x20:
                        continue  # more whitespace (or the end) first
                    b = buf[i]  # the key or value starts right here (the usual case)
                else:
                    if kind == 2:
                        if b != 0x5D:
                            return 10
                        state = 3
                    else:
                        if b != 0x7D:
                            return 10
                        state = 2
                        if kind == 3:
                            state = 14  # the call closed: only whitespace may follow
                    i += 1
                    continue
            if state == 9:
                # a member: its key string
                if b != 0x22:
                    return 10
                crc = w[2]  # register after b"k"
                ret = 4
                state = 1
                continue
            if state == 8:
                # a value at i; a container here has depth lvl + 2
                if lvl == 0:
                    if w[14] == 1:
                        if b == 0x22:
                            io[8] = (i + 1) & 0xFFFFFFFF  # tool name span start
                            crc = w[5]  # register after b"C"
                            ret = 6
                            state = 1
                            continue
                        bad = 20  # validate the value, then BAD_TOOL
                    elif w[14] == 2:
                        if b == 0x7B:
                            io[11] = (i + 1) & 0xFFFFFFFF
                        else:
                            bad = 21  # validate the value, then BAD_ARGS
                if b == 0x22:
                    crc = w[0]  # register after b"s"
                    ret = 5
                    state = 1
                    continue
                if b == 0x7B or b == 0x5B:
                    if lvl + 2 > max_depth:
                        return 12  # TOO_DEEP
                    lvl += 1
                    o = 13 + lvl * 5
                    w[o + 1] = (0) & 0xFFFFFFFF
                    w[o + 2] = (0) & 0xFFFFFFFF
                    w[o + 4] = (ktop) & 0xFFFFFFFF
                    i += 1
                    if b == 0x7B:
                        w[o] = (1) & 0xFFFFFFFF
                        state = 10
                    else:
                        w[o] = (2) & 0xFFFFFFFF
                        w[o + 2] = (w[3]) & 0xFFFFFFFF  # register after b"["
                        state = 11
                    continue
                s = i
                if b == 0x2D or (b >= 0x30 and b <= 0x39):
                    # a strict number
                    if b == 0x2D:
                        i += 1
                        if i >= end:
                            return 22
                    c = buf[i]
                    if c == 0x30:
                        i += 1
                        if i < end and buf[i] >= 0x30 and buf[i] <= 0x39:
                            return 18  # BAD_NUMBER: leading zero
                    elif c >= 0x31 and c <= 0x39:
                        i += 1
                        while i < end and buf[i] >= 0x30 and buf[i] <= 0x39:
                            i += 1
                    else:
                        return 18
                    # then a fraction ('.' digits) and an exponent ('e' or 'E', a sign,
                    # digits), each optional and each with at least one digit: p 0, then 1
                    p = 0
                    while p < 2:
                        if p == 0:
                            if i >= end or buf[i] != 0x2E:
                                p = 1
                                continue
                        elif i >= end or (buf[i] != 0x65 and buf[i] != 0x45):
                            break
                        i += 1
                        if p == 1 and i < end and (buf[i] == 0x2B or buf[i] == 0x2D):
                            i += 1
                        if i >= end:
                            return 22
                        if buf[i] < 0x30 or buf[i] > 0x39:
                            return 18
                        while i < end and buf[i] >= 0x30 and buf[i] <= 0x39:
                            i += 1
                        p += 1
                elif b == 0x74 or b == 0x66 or b == 0x6E:
                    # true / false / null, compared byte by byte ("f" + "a" + 3 more)
                    word = 0x727565  # "rue"
                    if b == 0x6E:
                        word = 0x756C6C  # "ull"
                    i += 1
                    if b == 0x66:
                        if i >= end:
                            return 22
                        if buf[i] != 0x61:
                            return 10
                        i += 1
                        word = 0x6C7365  # "lse"
                    p = 0
                    while p < 3:
                        if i + p >= end:
                            return 22
                        if buf[i + p] != (word >> (16 - 8 * p)) & 0xFF:
                            return 10
                        p += 1
                    i += 3
                elif b == 0x4E or b == 0x49:
                    return 18  # NaN, Infinity
                else:
                    return 10
                # a number or literal: CRC(b"n" + its raw text)
                crc = w[1]
                while s < i:
                    crc = t[(crc ^ buf[s]) & 0xFF] ^ ((crc >> 8) & m24)
                    s += 1
                vh = ~crc
                state = 0
                continue
            if state == 10:
                # after '{': '}' or a member
                if b == 0x7D:
                    if lvl == 0:
                        return 20  # {} has no tool
                    i += 1
                    state = 2
                else:
                    state = 9
                continue
            if state == 11:
                # after '[': ']' or an element
                if b == 0x5D:
                    i += 1
                    state = 3
                else:
                    state = 8
                continue
            if state == 7:
                if b != 0x3A:
                    return 10
                i += 1
                state = 8
                continue
            if state == 14:
                return 10  # trailing bytes after the call
            if state == 15:
                if b != 0x7B:
                    return 10  # MALFORMED
                i += 1
                state = 10
                continue

def crc_span16(buf, i, end, st, t):
    # continue the CRC register held as halves st[0] (hi), st[1] (lo) over buf[i:end]; for
    # outcome bytes. Returns end.
    crc = (st[0] << 16) | st[1]
    while i < end:
        crc = t[(crc ^ buf[i]) & 0xFF] ^ ((crc >> 8) & 0xFFFFFF)
        i += 1
    st[0] = (crc >> 16) & 0xFFFF
    st[1] = crc & 0xFFFF
    return i
