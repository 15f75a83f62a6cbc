# Worker for host_tests/test_core_state.py: one "life" of an agent that sends SMS under a budget
# kept in a state file. Runs unchanged on CPython and on the MicroPython unix port.
#
#   mp_state_worker.py STATE_PATH POLICY_JSON LIFE
#
# Builds Guard(policy) with policy["state_path"] = STATE_PATH, prints "READY", then for every
# line read from stdin checks one send_sms call (unique args: this life's tag and a counter, so
# the loop detectors never interfere) and prints one line:
#   "A <n>"              the call was allowed (the SMS "is sent")
#   "B <code> <rule>"    the call was blocked: verdict code and guard.rule_index()
# At end of input it prints "END" and exits. The test kills it (SIGKILL) at random moments.
# CPython flushes after every line; MicroPython's print writes straight to the fd (the test's
# lock-step reads would time out if it buffered).
import json
import sys

from microloop_mpy import Guard

_MP = sys.implementation.name == "micropython"


def say(text):
    print(text)
    if not _MP:
        sys.stdout.flush()


def main():
    path = sys.argv[1]
    policy = json.loads(sys.argv[2])
    life = sys.argv[3]
    policy["state_path"] = path
    guard = Guard(policy)
    say("READY")
    n = 0
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        call = '{"tool": "send_sms", "args": {"to": "+15550100", "life": "%s", "n": %d}}' % (
            life, n)
        v = guard.check(call.encode())
        if v == 0:
            say("A %d" % n)
        else:
            say("B %d %d" % (v, guard.rule_index()))
        n += 1
    say("END")


main()
