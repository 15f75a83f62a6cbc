# microloop_mpy.trajectory_demo -- host-side demo (CPython): replays the bundled trajectories on
# CPython and on the MicroPython unix port and prints their verdicts side by side. Host-only:
# it starts a subprocess; the device core never imports it.
import glob
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _unix_port():
    here = os.path.join(os.path.dirname(sys.executable), "micropython")
    return here if os.path.exists(here) else "micropython"


def _replay_unix(path, state_dir):
    code = ("import sys\nsys.path.insert(0, %r)\nfrom microloop_mpy.trajectory import main\n"
            "main(%r, %r)\n" % (ROOT, path, state_dir))
    out = subprocess.run([_unix_port(), "-c", code], capture_output=True, text=True, timeout=120)
    return out.stdout.splitlines()


def main():
    from microloop_mpy.trajectory import replay_lines

    files = sorted(glob.glob(os.path.join(ROOT, "host_tests", "trajectories", "*.jsonl")))
    bad = 0
    print("%-40s %6s %6s %9s %s" % ("trajectory", "steps", "blocks", "mismatch", "parity"))
    for path in files:
        lines = []
        with tempfile.TemporaryDirectory() as state_dir:
            with open(path, "rb") as f:
                replay_lines(f.read().split(b"\n"), lines.append, state_dir)
            mp = _replay_unix(path, state_dir)
        same = mp == lines or (len(mp) == 1 and mp[0].startswith("SKIP"))
        calls = [json.loads(x) for x in lines if x.startswith('{"step"')]
        blocks = sum(1 for c in calls if c.get("kind") == "call" and c["verdict"])
        done = json.loads(lines[-1]) if lines and lines[-1].startswith('{"done"') else {}
        mism = done.get("mismatches", -1)
        bad += (not same) + (mism != 0)
        print("%-40s %6d %6d %9d %s" % (os.path.basename(path)[:40], done.get("done", 0),
                                          blocks, mism, "same" if same else "DIFFERENT"))
    print("%d trajectories, %d problems" % (len(files), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
