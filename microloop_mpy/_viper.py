# microloop_mpy._viper -- the scanner's two innermost loops as viper code (native machine code
# on ports that have the viper emitter: ESP32, RP2040, unix). Imported only through _compat,
# which falls back to _twin (identical results) where viper is missing (e.g. the wasm port).
# Never allocates: pointers into the caller's buffers, machine ints, a small-int result.
# Viper ints are machine words that wrap; every value here stays below 2**16 (CRC halves) or is
# an index below len(buf), so no wrap can happen (tested against the twin).
import micropython


@micropython.viper
def crc_plain(buf: ptr8, i: int, end: int, st: ptr16, tlo: ptr16, thi: ptr16) -> int:
    # continue the CRC register st[0..1] over the run of plain string bytes at i
    # (0x20..0x7E except '"' and '\\'); returns where the run stops
    hi = st[0]
    lo = st[1]
    while i < end:
        b = buf[i]
        if b < 0x20 or b > 0x7E or b == 0x22 or b == 0x5C:
            break
        k = (lo ^ b) & 0xFF
        lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ tlo[k]
        hi = (hi >> 8) ^ thi[k]
        i += 1
    st[0] = hi
    st[1] = lo
    return i


@micropython.viper
def crc_span(buf: ptr8, i: int, end: int, st: ptr16, tlo: ptr16, thi: ptr16) -> int:
    # continue the CRC register st[0..1] over buf[i:end]; returns end
    hi = st[0]
    lo = st[1]
    while i < end:
        k = (lo ^ buf[i]) & 0xFF
        lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ tlo[k]
        hi = (hi >> 8) ^ thi[k]
        i += 1
    st[0] = hi
    st[1] = lo
    return i


@micropython.viper
def skip_ws(buf: ptr8, i: int, end: int) -> int:
    # index of the first byte at or after i that is not JSON whitespace
    while i < end:
        b = buf[i]
        if b == 0x20 or b == 0x0A or b == 0x0D or b == 0x09:
            i += 1
        else:
            break
    return i


@micropython.viper
def fold_member(st: ptr16, tlo: ptr16, thi: ptr16, sbox: ptr8) -> int:
    # st: [key register hi, lo, value hash hi, lo, sum hi, lo]. Continues the key register over
    # b"\0" + value hash (BE), finishes it, mixes it (CRC of its S-boxed bytes) and adds the mix
    # to the 32-bit sum (as two 16-bit halves with carry). Returns 0.
    hi = st[0]
    lo = st[1]
    vh = st[2]
    vl = st[3]
    t = 0
    while t < 5:
        if t == 0:
            b = 0
        elif t == 1:
            b = vh >> 8
        elif t == 2:
            b = vh & 0xFF
        elif t == 3:
            b = vl >> 8
        else:
            b = vl & 0xFF
        k = (lo ^ b) & 0xFF
        lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ tlo[k]
        hi = (hi >> 8) ^ thi[k]
        t += 1
    mh = hi ^ 0xFFFF
    ml = lo ^ 0xFFFF
    hi = 0xFFFF
    lo = 0xFFFF
    t = 0
    while t < 4:
        if t == 0:
            b = sbox[mh >> 8]
        elif t == 1:
            b = sbox[mh & 0xFF]
        elif t == 2:
            b = sbox[ml >> 8]
        else:
            b = sbox[ml & 0xFF]
        k = (lo ^ b) & 0xFF
        lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ tlo[k]
        hi = (hi >> 8) ^ thi[k]
        t += 1
    sl = st[5] + (lo ^ 0xFFFF)
    st[4] = (st[4] + (hi ^ 0xFFFF) + (sl >> 16)) & 0xFFFF
    st[5] = sl & 0xFFFF
    return 0


@micropython.viper
def fold_hash(st: ptr16, tlo: ptr16, thi: ptr16) -> int:
    # st: [register hi, lo, hash hi, lo]: continue the register over the hash (BE). Returns 0.
    hi = st[0]
    lo = st[1]
    vh = st[2]
    vl = st[3]
    t = 0
    while t < 4:
        if t == 0:
            b = vh >> 8
        elif t == 1:
            b = vh & 0xFF
        elif t == 2:
            b = vl >> 8
        else:
            b = vl & 0xFF
        k = (lo ^ b) & 0xFF
        lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ tlo[k]
        hi = (hi >> 8) ^ thi[k]
        t += 1
    st[0] = hi
    st[1] = lo
    return 0


@micropython.viper
def find_pair(ah: ptr16, al: ptr16, lo_i: int, hi_i: int, h: int, l: int) -> int:
    # 1 if some index in lo_i..hi_i-1 holds the pair (h, l), else 0
    while lo_i < hi_i:
        if ah[lo_i] == h and al[lo_i] == l:
            return 1
        lo_i += 1
    return 0


@micropython.viper
def obj_members(buf: ptr8, i: int, end: int, st: ptr16, tlo: ptr16, thi: ptr16, sbox: ptr8,
                keys_h: ptr16, keys_l: ptr16, base: int, slots: int) -> int:
    # The common case of an object body: members whose key is plain ASCII and whose value is a
    # plain ASCII string, a number or a literal, hashed exactly as Scanner.obj() does.
    # st in:  [0] sum hi, [1] sum lo, [2] member count, [3] keys on the stack,
    #         [6..11] seed registers: key hi, lo, string hi, lo, number hi, lo
    # st out: [0..3] updated for every member done here; [4] 1: the object closed (returns the
    #         index after '}'), 2: stopped after a member (returns where ',' or '}' should be),
    #         0: stopped at the start of a member that needs the general path (returns its index)
    sh = int(st[0])
    sl = int(st[1])
    count = int(st[2])
    top = int(st[3])
    st[4] = 0
    while True:
        m = i
        if i >= end or int(buf[i]) != 0x22:
            break
        i += 1
        # the key: a run of plain bytes, then its closing quote
        hi = int(st[6])
        lo = int(st[7])
        while i < end:
            b = int(buf[i])
            if b < 0x20 or b > 0x7E or b == 0x22 or b == 0x5C:
                break
            k = (lo ^ b) & 0xFF
            lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ int(tlo[k])
            hi = (hi >> 8) ^ int(thi[k])
            i += 1
        if i >= end or int(buf[i]) != 0x22:
            i = m
            break
        i += 1
        mh = hi
        ml = lo
        fkh = hi ^ 0xFFFF
        fkl = lo ^ 0xFFFF
        if top >= slots:
            i = m
            break
        j = base
        dup = 0
        while j < top:
            if int(keys_h[j]) == fkh and int(keys_l[j]) == fkl:
                dup = 1
                break
            j += 1
        if dup:
            i = m
            break
        while i < end:
            b = int(buf[i])
            if b == 0x20 or b == 0x0A or b == 0x0D or b == 0x09:
                i += 1
            else:
                break
        if i >= end or int(buf[i]) != 0x3A:
            i = m
            break
        i += 1
        while i < end:
            b = int(buf[i])
            if b == 0x20 or b == 0x0A or b == 0x0D or b == 0x09:
                i += 1
            else:
                break
        if i >= end:
            i = m
            break
        # the value
        b = int(buf[i])
        s = i
        ok = 1
        if b == 0x22:
            hi = int(st[8])
            lo = int(st[9])
            i += 1
            while i < end:
                b = int(buf[i])
                if b < 0x20 or b > 0x7E or b == 0x22 or b == 0x5C:
                    break
                k = (lo ^ b) & 0xFF
                lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ int(tlo[k])
                hi = (hi >> 8) ^ int(thi[k])
                i += 1
            if i >= end or int(buf[i]) != 0x22:
                ok = 0
            i += 1
        else:
            j = i
            if b == 0x74:
                if j + 4 <= end and int(buf[j + 1]) == 0x72 and int(buf[j + 2]) == 0x75 and int(buf[j + 3]) == 0x65:
                    j += 4
                else:
                    ok = 0
            elif b == 0x66:
                if j + 5 <= end and int(buf[j + 1]) == 0x61 and int(buf[j + 2]) == 0x6C and int(buf[j + 3]) == 0x73 and int(buf[j + 4]) == 0x65:
                    j += 5
                else:
                    ok = 0
            elif b == 0x6E:
                if j + 4 <= end and int(buf[j + 1]) == 0x75 and int(buf[j + 2]) == 0x6C and int(buf[j + 3]) == 0x6C:
                    j += 4
                else:
                    ok = 0
            elif b == 0x2D or (b >= 0x30 and b <= 0x39):
                if b == 0x2D:
                    j += 1
                if j >= end:
                    ok = 0
                else:
                    c = int(buf[j])
                    if c == 0x30:
                        j += 1
                        if j < end and int(buf[j]) >= 0x30 and int(buf[j]) <= 0x39:
                            ok = 0
                    elif c >= 0x31 and c <= 0x39:
                        j += 1
                        while j < end and int(buf[j]) >= 0x30 and int(buf[j]) <= 0x39:
                            j += 1
                    else:
                        ok = 0
                if ok and j < end and int(buf[j]) == 0x2E:
                    j += 1
                    if j >= end or int(buf[j]) < 0x30 or int(buf[j]) > 0x39:
                        ok = 0
                    while j < end and int(buf[j]) >= 0x30 and int(buf[j]) <= 0x39:
                        j += 1
                if ok and j < end and (int(buf[j]) == 0x65 or int(buf[j]) == 0x45):
                    j += 1
                    if j < end and (int(buf[j]) == 0x2B or int(buf[j]) == 0x2D):
                        j += 1
                    if j >= end or int(buf[j]) < 0x30 or int(buf[j]) > 0x39:
                        ok = 0
                    while j < end and int(buf[j]) >= 0x30 and int(buf[j]) <= 0x39:
                        j += 1
            else:
                ok = 0
            if ok:
                hi = int(st[10])
                lo = int(st[11])
                while s < j:
                    k = (lo ^ int(buf[s])) & 0xFF
                    lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ int(tlo[k])
                    hi = (hi >> 8) ^ int(thi[k])
                    s += 1
                i = j
        if not ok:
            i = m
            break
        vh = hi ^ 0xFFFF
        vl = lo ^ 0xFFFF
        # the member register: the key register, then b"\0", then the value hash (BE)
        t = 0
        while t < 5:
            if t == 0:
                b = 0
            elif t == 1:
                b = vh >> 8
            elif t == 2:
                b = vh & 0xFF
            elif t == 3:
                b = vl >> 8
            else:
                b = vl & 0xFF
            k = (ml ^ b) & 0xFF
            ml = ((ml >> 8) | ((mh & 0xFF) << 8)) ^ int(tlo[k])
            mh = (mh >> 8) ^ int(thi[k])
            t += 1
        mh ^= 0xFFFF
        ml ^= 0xFFFF
        hi = 0xFFFF
        lo = 0xFFFF
        t = 0
        while t < 4:
            if t == 0:
                b = int(sbox[mh >> 8])
            elif t == 1:
                b = int(sbox[mh & 0xFF])
            elif t == 2:
                b = int(sbox[ml >> 8])
            else:
                b = int(sbox[ml & 0xFF])
            k = (lo ^ b) & 0xFF
            lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ int(tlo[k])
            hi = (hi >> 8) ^ int(thi[k])
            t += 1
        sl += lo ^ 0xFFFF
        sh = (sh + (hi ^ 0xFFFF) + (sl >> 16)) & 0xFFFF
        sl &= 0xFFFF
        count = (count + 1) & 0xFFFF
        keys_h[top] = fkh
        keys_l[top] = fkl
        top += 1
        st[0] = sh
        st[1] = sl
        st[2] = count
        st[3] = top
        # the separator
        while i < end:
            b = int(buf[i])
            if b == 0x20 or b == 0x0A or b == 0x0D or b == 0x09:
                i += 1
            else:
                break
        if i < end and int(buf[i]) == 0x7D:
            st[4] = 1
            return i + 1
        if i < end and int(buf[i]) == 0x2C:
            i += 1
            while i < end:
                b = int(buf[i])
                if b == 0x20 or b == 0x0A or b == 0x0D or b == 0x09:
                    i += 1
                else:
                    break
            continue
        st[4] = 2
        return i
    return i
