# What a Guard loads on a MicroPython port with viper (here the unix port, where the native
# pass and step compile, as on a Pico): the default policy loads only the modules its check()
# runs; policy validation, rules, budgets, the matcher, the state file and the reference
# scanner load only when a policy asks for them (README "RAM": on a Pico each is kilobytes of
# heap). Deterministic, so asserted; the heap sizes themselves are a report
# (host_tests/bench/device_ram.py).
from runtimes import run_mp

SNIPPET = r"""
import sys


def loaded():
    return " ".join(sorted(m[len("microloop_mpy."):] for m in sys.modules
                           if m.startswith("microloop_mpy.")))


import microloop_mpy
g = microloop_mpy.Guard(None)
print("NONE", loaded())
print("CHECK", g.check(b'{"tool": "x", "args": {"a": 1}}'))
g = microloop_mpy.Guard({"history": 64})
print("DICT", loaded())
g = microloop_mpy.Guard({"tools": {"x": {"exempt": True}}})
print("TOOLS", loaded())
g = microloop_mpy.Guard({"rules": [{"tool": "x", "count": 2}]})
print("RULES", loaded())
"""

DEFAULT = {"_compat", "_pass", "_hist", "codes", "crc", "history", "fastscan", "guard"}


def _lines():
    out = run_mp("unix", SNIPPET)
    return dict(line.split(" ", 1) if " " in line else (line, "")
                for line in out.strip().splitlines())


def test_guard_none_loads_only_the_default_path_and_policies_load_what_they_use():
    got = {k: set(v.split()) for k, v in _lines().items()}
    assert got["CHECK"] == {"0"}
    assert got["NONE"] == DEFAULT
    assert got["DICT"] == DEFAULT | {"policy"}
    assert got["TOOLS"] == DEFAULT | {"policy", "scan", "_twin"}
    assert {"guard_rules", "rules", "matcher"} <= got["RULES"]
    assert "state" not in got["RULES"]  # no state_path
    assert "detectors" not in got["RULES"]  # the native step runs the detectors
