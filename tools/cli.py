# microloop_tools.cli -- the `microloop` command (entry point microloop_tools.cli:main).
# Minimal placeholder from infra so the console script resolves; the harness owns this file.
# Subcommands are registered lazily: COMMANDS maps a name to "module:function" under
# microloop_tools (or microloop_host), imported only when that subcommand runs, so one
# missing optional dependency never breaks the others. A registered function receives the
# remaining argv and returns an exit status.
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    # "build": ("microloop_tools.build:main", "compile microloop_mpy to .mpy"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="microloop", description="microloop-mpy tools")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_target, help_text) in sorted(COMMANDS.items()):
        sub.add_parser(name, help=help_text, add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module, func = COMMANDS[args.command][0].split(":")
    return int(getattr(importlib.import_module(module), func)(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
