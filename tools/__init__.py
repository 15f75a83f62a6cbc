# microloop_tools -- the host harness of microloop-mpy (directory tools/, imported as
# microloop_tools): build, flash, deploy and replay on boards and on the virtual board.
# Host-only code: never imported by the device side.
__version__ = "0.1.0"
