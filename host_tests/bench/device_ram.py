# On-device RAM report (a report, never a test): what `import microloop_mpy` and `Guard(None)`
# take of the heap, and what each module costs, on a board with the guard installed:
#   mpremote connect PORT run host_tests/bench/device_ram.py
# Run by CPython (`make bench`), it runs itself on the unix port (.venv/bin/micropython) over
# the repository's sources. gc.mem_alloc() after gc.collect(), around each step.
# Per module: the installed files are copied to /ramprobe/microloop_mpy/ next to an EMPTY
# __init__.py, so each module can be imported alone in dependency order (the real __init__
# imports them all at once); the copy is removed at the end.
import gc
import os
import sys

PKG = "microloop_mpy"
PROBE = "/tmp/microloop_ramprobe" if sys.platform == "linux" else "/ramprobe"
# the default load, in dependency order; then what only some policies load
DEFAULT = ("_pass", "_hist", "_compat", "codes", "crc", "history", "fastscan", "guard")
ON_DEMAND = ("policy", "guard_rules", "_twin", "scan", "matcher", "rules", "state", "detectors",
             "_pass_twin")


def used():
    gc.collect()
    return gc.mem_alloc()


def installed_dir():
    for d in sys.path:
        base = (d or ".") + "/" + PKG
        for name in ("__init__.mpy", "__init__.py"):
            try:
                os.stat(base + "/" + name)
                return base
            except OSError:
                pass
    raise SystemExit("no %s installed on this port's sys.path" % PKG)


def forget():
    for k in list(sys.modules):
        if k == PKG or k.startswith(PKG + "."):
            del sys.modules[k]


def copy_probe(src):
    for d in (PROBE, PROBE + "/" + PKG):
        try:
            os.mkdir(d)
        except OSError:
            pass
    buf = bytearray(512)
    names = []
    for name in os.listdir(src):
        if name.startswith("__init__."):
            continue
        names.append(name)
        with open(src + "/" + name, "rb") as fi, open(PROBE + "/" + PKG + "/" + name, "wb") as fo:
            while True:
                n = fi.readinto(buf)
                if not n:
                    break
                fo.write(memoryview(buf)[:n])
    with open(PROBE + "/" + PKG + "/__init__.py", "w") as f:
        f.write("")
    return names


def remove_probe():
    d = PROBE + "/" + PKG
    for name in os.listdir(d):
        os.remove(d + "/" + name)
    os.rmdir(d)
    os.rmdir(PROBE)


def main():
    src = installed_dir()
    rows = []
    # 1. as a user loads it
    a0 = used()
    import microloop_mpy

    a1 = used()
    g = microloop_mpy.Guard(None)
    a2 = used()
    total = a2 - a0
    rows.append(("import microloop_mpy", a1 - a0))
    rows.append(("Guard(None) (history 32)", a2 - a1))
    rows.append(("together", total))
    del g, microloop_mpy
    forget()
    # 2. module by module, from a copy with an empty __init__
    files = copy_probe(src)
    sys.path.insert(0, PROBE)
    try:
        prev = used()
        __import__(PKG)
        for group, mods in (("default", DEFAULT), ("on demand", ON_DEMAND)):
            for m in mods:
                if not any(f.split(".")[0] == m for f in files):
                    continue
                try:
                    __import__(PKG + "." + m)
                    now = used()
                    rows.append(("%s: %s" % (group, m), now - prev))
                    prev = now
                except Exception as e:  # e.g. a .py pass its emitter cannot compile
                    rows.append(("%s: %s (%s)" % (group, m, type(e).__name__), used() - prev))
                    prev = used()
    finally:
        sys.path.pop(0)
        forget()
        remove_probe()
    print("runtime: %s %s, installed: %s" % (sys.implementation.name,
                                              ".".join(str(v) for v in sys.implementation.version[:3]),
                                              src))
    print("| part | heap bytes |")
    print("|---|---|")
    for name, n in rows:
        print("| %s | %d |" % (name, n))


if sys.implementation.name != "micropython":
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    mp = Path(sys.executable).with_name("micropython")
    env = dict(os.environ, MICROPYPATH=str(root))
    raise SystemExit(subprocess.run([str(mp), str(Path(__file__).resolve())], env=env).returncode)
main()
