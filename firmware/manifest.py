# firmware/manifest.py -- freeze the guard and the serial server into a custom MicroPython
# firmware (frozen bytecode runs from flash: more free RAM, no .mpy files to deploy).
#
#   cd micropython/ports/esp32   (or ports/rp2)
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/microloop-mpy/firmware/manifest.py
#
# Then only main.py goes on the board's filesystem (or freeze it too: see the last line).
#
# RP2040 (armv6m) WARNING, seen with MicroPython v1.26.1 (and its tools/mpy-tool.py on master
# at the time of writing): mpy-tool aligns frozen native code to 2 bytes on armv6m, but the
# viper emitter's inline 32-bit constants are read PC-relative and need the function on a
# 4-byte boundary. The frozen guard then computes wrong CRCs and check() can hang. Fix in
# your MicroPython checkout before building: in tools/mpy-tool.py add MP_NATIVE_ARCH_ARMV6M
# to the architectures aligned to 4 bytes. Then run `make device-test PORT=...`: its native =
# twin check shows at once whether the build is right. (.mpy files on the filesystem are not
# affected: their code is copied to an aligned heap block.)
# The version must equal package.json's and microloop_mpy.__version__ (a host test checks).
# Paths are relative to this file (makemanifest processes it from its own directory).
# metadata/include/package/module are defined by MicroPython's makemanifest.
# ruff: noqa: F821, E402
metadata(
    version="0.1.0",
    description="microloop-mpy: allocation-free guard for AI-agent tool calls, serial server",
    license="MIT",
)

# Keep the port's own frozen modules (asyncio, network helpers, ...).
include("$(PORT_DIR)/boards/manifest.py")

# The guard: every module the device imports; host-only ones (_cpython*, the demo) stay out.
import os

_HOST_ONLY = ("trajectory_demo.py",)
_core = sorted(
    f
    for f in os.listdir("../microloop_mpy")
    if f.endswith(".py") and not f.startswith("_cpython") and f not in _HOST_ONLY
)
# files= are relative to the package directory
package("microloop_mpy", files=_core, base_path="..", opt=3)

module("microloop_serve.py", opt=3)
module("agent_gate.py", opt=3)
# module("main.py")  # uncomment to freeze main.py as well (a main.py on the filesystem wins)
