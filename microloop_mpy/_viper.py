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
