# microloop_mpy.guard_rules -- the Guard's rules, count budgets and state file: set up in
# Guard(...) only for a policy with rules (or default "block"), so that a Guard without them
# never loads this, rules.py, matcher.py or state.py (README "RAM").
# spend() runs in check(): it never allocates unless it writes the state file.
from ._compat import USE_CPYTHON_SCAN, zeros
from . import codes


def _tree_matcher(scanner):
    # CPython: rules read the tree json decoded (see _cpython_scan.py); elsewhere none
    if not USE_CPYTHON_SCAN:
        return None
    from ._cpython_scan import TreeMatcher

    return TreeMatcher(scanner)


def setup(g, p):
    """Build g's rules, budgets and state file for the compiled policy p (allocates: in
    Guard(...))."""
    from .matcher import RawMatcher
    from .rules import Rules, K_COUNT, CLOCK_MASK

    if type(g._clock()) is not int:
        raise ValueError("clock must return an int (milliseconds)")
    g._clock_mask = CLOCK_MASK
    g._k_count = K_COUNT
    if g._state_path:
        from . import state

        g._state = state
    r = Rules(p.rules, p.default)
    r.layout()
    g._rules = r
    g._raw = RawMatcher(g._decoder)
    g._tree = _tree_matcher(g._scanner)
    g._conditions = {}  # CPython: raw call bytes -> rule conditions (see below)
    n = max(r.n, 1)
    g._reserved = zeros("i", n)  # spends covered by the state file
    g._since = zeros("i", n)  # spends since the last save
    g._res_b = zeros("i", n)  # reservation size B per count rule
    for i in range(r.n):
        # B: how many spends one write of the state file covers (README "Save policy")
        b = r.count[i] // 8
        g._res_b[i] = 8 if b > 8 else (b if b > 1 else 1)
        g._since[i] = g._res_b[i]
    if g._state_path:
        _load(g, g._clock() & CLOCK_MASK)


def tree_conditions(g, rules, sc):
    # CPython only (allocates): a rule's conditions depend on the call's bytes alone, so a
    # looping agent's repeated call is judged once and then looked up
    cache = g._conditions
    hit = cache.get(sc.raw)
    if hit is None:
        v = rules.conditions(g._tree)
        hit = (v, rules.rule, tuple(rules.hits[:rules.nhits]), rules.schema_message)
        if len(cache) >= 256:
            cache.clear()
        cache[sc.raw] = hit
    rules.rule = hit[1]
    hits = rules.hits
    for k, i in enumerate(hit[2]):
        hits[k] = i
    rules.nhits = len(hit[2])
    rules.schema_message = hit[3]
    return hit[0]


def _load(g, boot):
    r = g._rules
    state = g._state
    data = state.read(g._state_path)
    if data is None:
        return
    got = state.decode(data)
    if got is None:
        r.exhausted = True
        print("microloop: state file %s is torn or corrupt: every budget is exhausted "
              "until clear_budgets()" % g._state_path)
        return
    records, entries, seq = got
    for i in range(r.n):
        if r.kind[i] != g._k_count:
            continue
        rec = records.get((r.key_h[i], r.key_l[i]))
        if rec is None or rec[0] != (1 if r.per_ms[i] else 0):
            continue
        if r.per_ms[i]:
            # spends inside a window before the restart count as made at boot
            held = rec[1] if rec[1] < r.count[i] else r.count[i]
            for _ in range(held):
                r.spend_one(i, boot)
        else:
            r.spent[i] = rec[1]
        g._reserved[i] = rec[1]
    g._history.restore(entries, seq)


def spend(g, now):
    """Spend the hit rules' budgets for an allowed call (after reserving in the state file
    when a reservation ran out). Returns ALLOW or BUDGET_EXHAUSTED. Does not allocate unless
    it writes the state file."""
    # reserve in the state file first when a hit rule's reservation ran out, then spend
    r = g._rules
    if g._state_path:
        need = False
        for k in range(r.nhits):
            i = r.hits[k]
            if g._since[i] >= g._res_b[i]:
                need = True
        if need:
            for i in range(r.n):
                if r.kind[i] == g._k_count:
                    held = r.in_window(i, now) if r.per_ms[i] else r.spent[i]
                    g._reserved[i] = held + g._res_b[i]
                    g._since[i] = 0
            try:
                st = g._state
                st.write(g._state_path, st.encode(r, g._reserved, g._history))
            except OSError:
                # cannot persist the reservation: allowing could under-count after a
                # reboot, so refuse (fail closed)
                g._rule = r.hits[0]
                return codes.BUDGET_EXHAUSTED
    r.spend(now)
    for k in range(r.nhits):
        g._since[r.hits[k]] += 1
    return codes.ALLOW
