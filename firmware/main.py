# main.py -- runs at boot on the board: serve the guard on the USB serial console.
# What it must never do: anything else. Ctrl-C (mpremote, a terminal) or BYE returns to the
# REPL; the next reset serves again. The policy comes from microloop_policy.json when present.
import microloop_serve

microloop_serve.serve()
