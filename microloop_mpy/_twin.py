# microloop_mpy._twin -- pure-Python twins of _viper's functions: the same arguments, the same
# results, bit for bit. Used where the viper emitter is missing. Never allocates.


def crc_plain(buf, i, end, st, tlo, thi):
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


def crc_span(buf, i, end, st, tlo, thi):
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


def skip_ws(buf, i, end):
    # index of the first byte at or after i that is not JSON whitespace
    while i < end:
        b = buf[i]
        if b == 0x20 or b == 0x0A or b == 0x0D or b == 0x09:
            i += 1
        else:
            break
    return i


def fold_member(st, tlo, thi, sbox):
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


def fold_hash(st, tlo, thi):
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


def find_pair(ah, al, lo_i, hi_i, h, l):
    # 1 if some index in lo_i..hi_i-1 holds the pair (h, l), else 0
    while lo_i < hi_i:
        if ah[lo_i] == h and al[lo_i] == l:
            return 1
        lo_i += 1
    return 0
