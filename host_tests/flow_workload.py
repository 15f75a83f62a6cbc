# The payloads of the flow-control tests and benchmark (issue 13, section 4): a policy of about
# 5.7 KB and tool calls from 0.3 to 16 KB, each followed by a binary result of up to 8 KB
# (every byte value, 0x01 included: grant bytes only ever travel the other way). Deterministic.
from __future__ import annotations

import json
import random

from microloop_tools.link import frame


def workload(seed: int = 13) -> tuple[dict, list[tuple[bytes, bytes]]]:
    """A policy of about 5.7 KB and (call, result) pairs from 0.3 to 16 KB, all distinct."""
    rnd = random.Random(seed)
    policy = {"max_call_bytes": 16384,
              "rules": [{"tool": f"tool_{i:03d}", "count": 5, "per_s": 60} for i in range(120)]}
    pairs = []
    for i, size in enumerate([300, 1500, 4000, 9000, 16000, 700, 6000]):
        text = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789 .,") for _ in range(size))
        call = json.dumps({"tool": "write_file", "args": {"path": f"/notes/{i}.txt",
                                                          "text": text}}).encode()
        assert len(call) <= policy["max_call_bytes"]
        result = bytes(rnd.randrange(256) for _ in range(min(size, 8000)))  # binary, 0x01 too
        pairs.append((call, result))
    return policy, pairs


def sized_call(total: int) -> tuple[int, bytes]:
    """A seq and a call whose CHECK frame (header line + payload) is exactly `total` bytes on
    the wire. The seq's digits take up the step where len(payload) gains a digit; the caller
    makes it the link's next seq."""
    for seq in (100_000_000, 10_000_000, 1_000_000, 100_000, 10_000, 1_000):
        for n in range(8, total):
            call = b'{"tool": "t", "args": {"p": "' + b"y" * n + b'"}}'
            if len(frame(seq, "CHECK", call)) == total:
                return seq, call
    raise ValueError(f"no call makes a {total}-byte frame")
