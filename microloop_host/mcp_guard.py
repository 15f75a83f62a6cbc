# `microloop mcp`: the guard in front of any MCP server. It runs the server as a child process
# over stdio and is itself an MCP server, on stdio (default) or on streamable HTTP (--http),
# so a client's server config changes by one line. The relaying is mcp_relay's; this module
# parses the command line, checks that the `mcp` extra is installed, and starts the front.
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

NEEDS = 'microloop mcp needs: pip install "microloop-mpy[mcp]"'
EXIT_OK, EXIT_USAGE = 0, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="microloop mcp",
        description="Guard the tool calls of an MCP server: run it as a child process and "
                    "serve MCP on stdio (or streamable HTTP); every tools/call is checked by "
                    "the microloop guard before it reaches the server.",
        epilog='example: microloop mcp --policy default -- npx -y '
               '@modelcontextprotocol/server-filesystem /srv/data')
    p.add_argument("--policy", default="default",
                   help="preset (strict, default, lenient) or policy JSON file "
                        "(default: default)")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds a tools/call may take; then the client gets a JSON-RPC "
                        "error and the guard counts the call as failed (default: 120)")
    p.add_argument("--log", type=Path, metavar="FILE",
                   help="append one JSON line per tools/call (for `microloop audit`)")
    p.add_argument("--http", metavar="HOST:PORT",
                   help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio "
                        "(one server process and one guard per MCP session)")
    p.add_argument("--no-restart", action="store_true",
                   help="do not restart a server that exited (requests then get an error)")
    p.add_argument("--cwd", help="working directory of the server process")
    return p


def split_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """(our options, the server's command line): split at the first '--'."""
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def parse_hostport(text: str) -> tuple[str, int]:
    """'127.0.0.1:8765' -> ('127.0.0.1', 8765); ValueError with the reason otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--http {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8765")
    return host.strip("[]"), int(port)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `microloop mcp` (argv without the command name)."""
    ours, server_cmd = split_argv(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    args = parser.parse_args(ours)
    if not server_cmd:
        parser.error("give the MCP server's command after '--', e.g. "
                     "microloop mcp -- python my_server.py")
    try:
        import mcp  # noqa: F401  (the optional extra)
    except ImportError:
        print(NEEDS, file=sys.stderr)
        return EXIT_USAGE
    try:
        return run(args, server_cmd)
    except ValueError as exc:
        print(f"microloop mcp: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK


def run(args: argparse.Namespace, server_cmd: list[str]) -> int:
    """Check the options, then serve until the client goes away (stdio) or Ctrl-C (HTTP)."""
    import anyio

    from microloop_host.guardrail import Guardrail
    from microloop_host.mcp_log import CallLog
    from microloop_host.mcp_relay import Relay, ServerSpec

    if not args.timeout > 0:
        raise ValueError("--timeout must be a positive number of seconds")
    if shutil.which(server_cmd[0]) is None and not Path(server_cmd[0]).is_file():
        raise ValueError(f"cannot run the MCP server: {server_cmd[0]!r} not found")
    Guardrail(args.policy)  # a bad policy fails here, with its one-line reason
    server = ServerSpec(server_cmd[0], server_cmd[1:], args.cwd)
    log_file = CallLog(args.log)

    def new_relay() -> Relay:
        return Relay(Guardrail(args.policy), server, timeout=args.timeout, log_file=log_file,
                     restart=not args.no_restart)

    try:
        if args.http:
            from microloop_host.mcp_http import serve_http

            host, port = parse_hostport(args.http)
            anyio.run(serve_http, new_relay, host, port)
        else:
            anyio.run(_serve_stdio, new_relay)
    except BaseExceptionGroup as eg:  # anyio wraps what a task raised
        leaf = _first_leaf(eg)
        if isinstance(leaf, KeyboardInterrupt):
            return EXIT_OK
        if isinstance(leaf, (OSError, ValueError)):
            raise ValueError(f"cannot run the MCP server: {leaf}") from None
        raise
    except OSError as exc:
        raise ValueError(f"cannot run the MCP server: {exc}") from None
    finally:
        log_file.close()
    return EXIT_OK


async def _serve_stdio(new_relay: Any) -> None:
    import signal

    import anyio

    from microloop_host.mcp_stdio import stdio_front

    async def stop_on_signal(scope: anyio.CancelScope) -> None:
        # Ctrl-C or SIGTERM: end the session cleanly (the server process is stopped too)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                scope.cancel()
                return

    async with anyio.create_task_group() as tg:
        tg.start_soon(stop_on_signal, tg.cancel_scope)
        async with stdio_front() as (read, write):
            await new_relay().serve(read, write)
        tg.cancel_scope.cancel()


def _first_leaf(eg: BaseExceptionGroup) -> BaseException:
    e: BaseException = eg
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    return e


if __name__ == "__main__":
    sys.exit(main())
