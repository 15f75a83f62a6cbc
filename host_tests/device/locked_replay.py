# Device check: host_tests/mp_locked_replay.py on a board (via `mpremote run`) and, for the
# reference, on CPython. micropython.heap_lock() is held around every check() and outcome();
# an allocation inside raises MemoryError, which the driver counts. The host copies
# mp_locked_replay.py and the trajectories into DIR (on the board's filesystem, or a temporary
# directory for CPython) and prepends the settings below, so both sides print the same lines.
# Last line: "FAILS <allocation failures> <internal errors>".
import os
import sys

try:
    DIR
except NameError:
    DIR = "/ml_check"
try:
    FILES
except NameError:
    FILES = []
try:
    LONG_STEPS
except NameError:
    LONG_STEPS = 800

os.chdir(DIR)  # the printed paths are relative: the same on both sides
if DIR not in sys.path:
    sys.path.insert(0, DIR)
import mp_locked_replay as m  # noqa: E402

for path in FILES:
    m.replay_file(path)
m.run_rules()
m.run_long_stream(LONG_STEPS)
print("FAILS", m.FAILS[0], m.FAILS[1])
