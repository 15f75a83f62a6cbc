# microloop_mpy._hist -- the history's hot path as ONE viper function: prepare the candidate
# (index probe), run the loop detectors, append the entry. It is a transcription of
# PyHistory.prepare/judge/add (detectors.py), which stay the definition and the twin: the two are
# held bit for bit on every device (host_tests/device/check_hist.py).
# Never allocates: pointers into the History's arrays, machine ints.
#
# Emitter facts (README "On the chips"): the first three locals (sv, thr, r16) live in registers and
# are never used as an index (armv6m 1.26.1 scales an index register in place); a ptr32 load
# zero-extends on 64-bit ports, so every value that may be -1 is normalised after its load
# (`if x > 0x3FFFFFFF: x = -1`; the index `ix` is signed 16-bit, read through ptr16: -1 reads
# as 0xFFFF); no negative immediates in xor.
#
# sv: the History's scalar array (history.py: _SIZE.._C_PREV at 0..15); the call's inputs
# and the results: [16] mode (1 judge, 2 add, 3 both), [17] 1: exempt (ALLOW, no detector),
# [18] tool identity hi, [19] lo, [20] add-only: 1 if the call executes; out [21] verdict,
# [22] the new entry's number. thr: identical, repeat, errors, stale, retries, cycle_repeats.
# Returns the verdict (judge) or the entry (add only).
import micropython


@micropython.viper
def step(sv: ptr32, thr: ptr32, r16: ptr16, fl: ptr8, r32: ptr32, ix: ptr16) -> int:
    size = sv[0]
    # the 16-bit fields of the ring, one after another in r16, and the two chains in r32
    o_cl = size
    o_th = size * 2
    o_tl = size * 3
    o_oh = size * 4
    o_ol = size * 5
    mode = sv[16]
    v = 0
    if mode & 1:
        # -- prepare: the candidate's outcome snapshot is that of the call's latest entry
        h = sv[9]
        l = sv[10]
        mask = sv[3]
        k = (l ^ (h << 3) ^ (h >> 7)) & mask
        s = 0
        while True:
            s = ix[k]
            if s > 0x7FFF:
                s = 0 - 1
            if s < 0:
                break
            if r16[s] == h and r16[o_cl + s] == l:
                break
            k = (k + 1) & mask
        sv[14] = k
        c_fl = 2  # F_NEW
        c_oh = 0
        c_ol = 0
        c_prev = 0 - 1
        head = sv[4]
        n = sv[5]
        seq = sv[6]
        if s >= 0:
            c_fl = fl[s] & 12
            c_oh = r16[o_oh + s]
            c_ol = r16[o_ol + s]
            back = head - 1 - s
            if back < 0:
                back += size
            c_prev = (seq - 1 - back) & 0x3FFFFFFF
        sv[11] = c_fl
        sv[12] = c_oh
        sv[13] = c_ol
        sv[15] = c_prev
        # -- judge
        th0 = sv[18]
        tl0 = sv[19]
        window = sv[1]
        done = 0
        if sv[17]:
            done = 1  # exempt tool
        elif c_fl & 2 and thr[4] == 0:
            done = 1  # a new call: only `retries` could stop it
        if not done and not (c_fl & 2):
            c_o = c_fl & 12
            # 1. identical: the previous identical-1 entries all match
            k = thr[0]
            if k and n >= k - 1:
                s = head
                j = 0
                hit = 1
                while j < k - 1:
                    s -= 1
                    if s < 0:
                        s += size
                    if r16[s] != h or r16[o_cl + s] != l or (fl[s] & 12) != c_o:
                        hit = 0
                        break
                    if c_o and (r16[o_oh + s] != c_oh or r16[o_ol + s] != c_ol):
                        hit = 0
                        break
                    j += 1
                if hit:
                    v = 1
                    done = 1
            # 2. repeat: repeat-1 executed matches among the previous window-1 entries,
            #    counted from the latest new entry among them on (that entry included)
            k = thr[1]
            if not done and k:
                limit = window - 1
                if limit > n:
                    limit = n
                last_new = sv[8]
                if last_new > 0x3FFFFFFF:
                    last_new = 0 - 1
                if last_new >= 0:
                    d = (seq - 1 - last_new) & 0x3FFFFFFF
                    if d < limit:
                        limit = d + 1
                count = 0
                e = c_prev
                while e >= 0:
                    d = (seq - 1 - e) & 0x3FFFFFFF
                    if d >= limit:
                        break
                    s = head - 1 - d
                    if s < 0:
                        s += size
                    if fl[s] & 1 and r16[s] == h and r16[o_cl + s] == l and (fl[s] & 12) == c_o:
                        if c_o == 0 or (r16[o_oh + s] == c_oh and r16[o_ol + s] == c_ol):
                            count += 1
                    e = r32[size + s]
                    if e > 0x3FFFFFFF:
                        e = 0 - 1
                if count >= k - 1:
                    v = 2
                    done = 1
            # 3. cycle: the last p*repeats entries (candidate included) repeat one sequence
            k = thr[5]
            p = 2
            while not done and k and p <= sv[2]:
                length = p * k
                ok = 1
                if n < length - 1:
                    ok = 0
                # position j: 0 is the candidate, j >= 1 the entry j-1 steps back
                j = 0
                while ok and j < length - p:
                    # entry j+p (slot b) must match position j (the candidate, or slot a)
                    b = head - 1 - (j + p - 1)
                    if b < 0:
                        b += size
                    if j == 0:
                        fb = fl[b] & 12
                        if r16[b] != h or r16[o_cl + b] != l or fb != c_o:
                            ok = 0
                        elif fb and (r16[o_oh + b] != c_oh or r16[o_ol + b] != c_ol):
                            ok = 0
                        if ok:
                            # the calls of one period must not all be the same call
                            varied = 0
                            q = 1
                            while q < p:
                                a = head - 1 - (q - 1)
                                if a < 0:
                                    a += size
                                if r16[a] != h or r16[o_cl + a] != l:
                                    varied = 1
                                    break
                                q += 1
                            if not varied:
                                ok = 0
                    else:
                        a = head - 1 - (j - 1)
                        if a < 0:
                            a += size
                        fa = fl[a] & 12
                        if r16[a] != r16[b] or r16[o_cl + a] != r16[o_cl + b] or fa != (fl[b] & 12):
                            ok = 0
                        elif fa and (r16[o_oh + a] != r16[o_oh + b] or r16[o_ol + a] != r16[o_ol + b]):
                            ok = 0
                    j += 1
                if ok:
                    v = 3
                    done = 1
                p += 1
            # 4. errors: this call's last `errors` executions all reported failed, no other
            #    call executed between them or since the last
            k = thr[2]
            if not done and k:
                count = 0
                e = sv[7]
                while True:
                    if e > 0x3FFFFFFF:
                        e = 0 - 1
                    if e < 0:
                        break
                    back = (seq - 1 - e) & 0x3FFFFFFF
                    if back >= n:
                        break
                    s = head - 1 - back
                    if s < 0:
                        s += size
                    if r16[s] != h or r16[o_cl + s] != l:
                        break
                    if fl[s] & 24 != 24:  # F_REPORTED | F_FAILED
                        break
                    count += 1
                    if count >= k:
                        v = 4
                        done = 1
                        break
                    e = r32[s]
            # 5. stale: the candidate and the stale-1 entries before it are all not new
            k = thr[3]
            if not done and k and n >= k - 1:
                hit = 1
                j = 0
                while j < k - 1:
                    s = head - 1 - j
                    if s < 0:
                        s += size
                    if fl[s] & 2:
                        hit = 0
                        break
                    j += 1
                if hit:
                    v = 5
                    done = 1
        if not done:
            # 6. retries: counting this call, its tool has `retries` executed entries in
            #    the window
            k = thr[4]
            if k:
                count = 1
                last = window - 1
                if last > n:
                    last = n
                j = 0
                while j < last:
                    s = head - 1 - j
                    if s < 0:
                        s += size
                    if fl[s] & 1 and r16[o_th + s] == th0 and r16[o_tl + s] == tl0:
                        count += 1
                    j += 1
                if count >= k:
                    v = 6
        sv[21] = v
        if mode == 1:
            return v
        if v == 0:
            sv[20] = 1
        else:
            sv[20] = 0
    # -- add: append the candidate as an entry
    s = sv[4]
    h = sv[9]
    l = sv[10]
    mask = sv[3]
    executed = sv[20]
    shifted = 0
    if sv[5] == size and (r16[s] != h or r16[o_cl + s] != l):
        # the entry evicted from slot s leaves the index (backward-shift deletion), unless it
        # is of the candidate's own call: then the position found by prepare moves on
        eh = r16[s]
        el = r16[o_cl + s]
        j = (el ^ (eh << 3) ^ (eh >> 7)) & mask
        found = 0
        while True:
            t = ix[j]
            if t > 0x7FFF:
                break
            if t == s:
                found = 1
                break
            if r16[t] == eh and r16[o_cl + t] == el:
                break  # a newer entry of the same call is the latest
            j = (j + 1) & mask
        if found:
            shifted = 1
            going = 1
            while going:
                ix[j] = 0 - 1
                k = j
                while True:
                    k = (k + 1) & mask
                    t = ix[k]
                    if t > 0x7FFF:
                        going = 0
                        break
                    eh = r16[t]
                    home = (r16[o_cl + t] ^ (eh << 3) ^ (eh >> 7)) & mask
                    # the entry at k may move to j unless its home lies cyclically in (j, k]
                    stays = 0
                    if j <= k:
                        if j < home and home <= k:
                            stays = 1
                    elif home > j or home <= k:
                        stays = 1
                    if not stays:
                        ix[j] = t
                        j = k
                        break
    r16[s] = h
    r16[o_cl + s] = l
    r16[o_th + s] = sv[18]
    r16[o_tl + s] = sv[19]
    r16[o_oh + s] = sv[12]
    r16[o_ol + s] = sv[13]
    fl[s] = sv[11] | executed
    r32[s] = sv[7]
    r32[size + s] = sv[15]
    if shifted:
        # the new entry's index position, found by probing again
        k = (l ^ (h << 3) ^ (h >> 7)) & mask
        while True:
            t = ix[k]
            if t > 0x7FFF:
                break
            if r16[t] == h and r16[o_cl + t] == l:
                break
            k = (k + 1) & mask
        sv[14] = k
        ix[k] = s
    else:
        ix[sv[14]] = s
    s += 1
    if s == size:
        s = 0
    sv[4] = s
    if sv[5] < size:
        sv[5] = sv[5] + 1
    entry = sv[6]
    sv[6] = (entry + 1) & 0x3FFFFFFF
    if executed:
        sv[7] = entry
    if sv[11] & 2:
        sv[8] = entry
    sv[22] = entry
    return entry
