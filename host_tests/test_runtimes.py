# Proves the three runtimes the parity tests rely on are what they claim to be, and that the
# runner plumbing (argv, sys.path, mounts, exit codes, timeouts, heap lock) works on each.
import json

import pytest

from runtimes import ROOT, RunFailed, run_mp

IDENTITY = "import sys\nprint(sys.implementation.name, sys.maxsize)\n"

# Allocation under micropython.heap_lock(): a long-int result allocates, a small-int result
# does not. Small ints are 31-bit on 32-bit ports (max 2**30-1) and 63-bit on 64-bit ports
# (max 2**62-1), so `a + a` with a = 2**29 / 2**61 needs a heap object, `(a - 1) + a` does not.
# Everything runs inside a function (locals, no new globals) and catches MemoryError without
# `as`, which would allocate under the lock.
HEAP_LOCK = """
import sys, micropython

def probe():
    a = (1 << 29) if sys.maxsize < (1 << 32) else (1 << 61)
    grown = [0, 0, 0, 0]
    big = small = grow = "not run"
    x = 0
    micropython.heap_lock()
    try:
        a + a
        big = "no error"
    except MemoryError:
        big = "MemoryError"
    try:
        x = (a - 1) + a
        small = "ok"
    except MemoryError:
        small = "MemoryError"
    try:
        grown.append(1)
        grown.append(2)
        grow = "no error"
    except MemoryError:
        grow = "MemoryError"
    micropython.heap_unlock()
    return big, small, grow, x == 2 * a - 1

print(probe())
"""


def test_cpython_is_cpython_311_or_newer(run_mp):
    out = run_mp("cpython", "import sys\nprint(sys.implementation.name, sys.version_info >= (3, 11))")
    assert out.split() == ["cpython", "True"]


def test_unix_port_is_64bit_micropython(run_mp):
    name, maxsize = run_mp("unix", IDENTITY).split()
    assert name == "micropython"
    assert int(maxsize) == 2**63 - 1


def test_wasm_port_is_32bit_micropython(run_mp):
    name, maxsize = run_mp("wasm", IDENTITY).split()
    assert name == "micropython"
    assert int(maxsize) == 2**31 - 1


def test_heap_lock_fails_allocations_but_not_small_ints(mp_runtime, run_mp):
    out = run_mp(mp_runtime, HEAP_LOCK, timeout=30)
    assert out.strip() == "('MemoryError', 'ok', 'MemoryError', True)"


def test_args_cwd_and_repo_root_on_path(runtime, run_mp):
    # sys.argv, the working directory and sys.path agree on every runtime.
    code = (
        "import sys, os\n"
        "print(len(sys.argv))\n"
        "for a in sys.argv[1:]:\n"
        "    print(a)\n"
        "print(os.getcwd())\n"
        f"print({str(ROOT)!r} in sys.path)\n"
    )
    args = ["a", "b c", 'q"\\x', "é"]  # (MicroPython's repr() escapes non-ASCII: print them)
    lines = run_mp(runtime, code, args).splitlines()
    assert lines == ["5", *args, str(ROOT), "True"]


def test_repo_files_visible(runtime, run_mp):
    # The core package and the trajectories are readable at the same paths everywhere
    # (the wasm port sees copies in its in-memory file system).
    code = (
        "import os\n"
        "print(sorted(f for f in os.listdir('microloop_mpy') if f.endswith('.py')))\n"
        "print(len(open('microloop_mpy/__init__.py').read()))\n"
    )
    want = sorted(p.name for p in (ROOT / "microloop_mpy").glob("*.py"))
    lines = run_mp(runtime, code).splitlines()
    assert lines[0] == repr(want)
    assert int(lines[1]) == len((ROOT / "microloop_mpy" / "__init__.py").read_text())


def test_extra_mounts_and_packages(runtime, run_mp, tmp_path):
    # A nested package and a .jsonl file in a directory outside the repo, importable and
    # readable by absolute path (wasm: through --mount).
    pkg = tmp_path / "pkgroot" / "outer" / "inner"
    pkg.mkdir(parents=True)
    (pkg.parent / "__init__.py").write_text("A = 1\n")
    (pkg / "__init__.py").write_text("B = 2\n")
    (tmp_path / "pkgroot" / "data.jsonl").write_text('{"k": [1, 2]}\n')
    root = tmp_path / "pkgroot"
    code = (
        "import sys, json\n"
        f"sys.path.insert(0, {str(root)!r})\n"
        "import outer.inner\n"
        "print(outer.A, outer.inner.B)\n"
        f"print(json.loads(open({str(root / 'data.jsonl')!r}).read())['k'])\n"
    )
    assert run_mp(runtime, code, mounts=[root]).splitlines() == ["1 2", "[1, 2]"]


def test_script_path_runs_as_main(runtime, run_mp, tmp_path):
    script = tmp_path / "prog.py"
    script.write_text("import sys\nprint(__name__, sys.argv[0].endswith('prog.py'), sys.argv[1:])\n")
    assert run_mp(runtime, script, ["x"]).strip() == "__main__ True ['x']"


def test_utf8_output(runtime, run_mp):
    out = run_mp(runtime, "import json\nprint('ünï ✓', json.dumps({'a': [1, 'b']}))")
    assert out == "ünï ✓ " + json.dumps({"a": [1, "b"]}) + "\n"


def test_uncaught_exception_fails_with_traceback(runtime, run_mp):
    with pytest.raises(RunFailed) as info:
        run_mp(runtime, "print('partial')\nraise ValueError('boom-marker')\n")
    msg = str(info.value)
    assert f"[{runtime}] exit status 1" in msg
    assert "ValueError" in msg and "boom-marker" in msg
    assert "partial" in msg  # stdout so far is kept


def test_sys_exit_code_passes_through(runtime, run_mp):
    with pytest.raises(RunFailed, match=r"exit status 3"):
        run_mp(runtime, "import sys\nsys.exit(3)\n")
    assert run_mp(runtime, "import sys\nprint('ok')\nsys.exit(0)\n") == "ok\n"


def test_exception_under_heap_lock_does_not_hang(mp_runtime, run_mp):
    # An uncaught MemoryError with the heap locked must end the run with an error, not a hang.
    code = "import micropython\nmicropython.heap_lock()\nx = bytearray(16)\n"
    with pytest.raises(RunFailed) as info:
        run_mp(mp_runtime, code, timeout=20)
    assert "MemoryError" in str(info.value)
    assert "timed out" not in str(info.value)


def test_timeout_kills_and_reports(mp_runtime, run_mp):
    with pytest.raises(RunFailed, match=r"timed out after 1.5s"):
        run_mp(mp_runtime, "print('spinning')\nwhile True:\n    pass\n", timeout=1.5)
