# The package as a user gets it: the wheel and the sdist are built from a copy of the source
# tree (`python -m build`, which builds the wheel from the sdist, so the sdist is proven too),
# the wheel goes into ONE fresh virtual environment outside the repository, and there, run
# from a directory that holds nothing of the project:
#   core only   the core imports and checks; microloop_host imports no framework; `microloop
#               --help` and `microloop boards`; every missing extra is one line naming it
#               (commands and imports), never a traceback;
#   + [harness,proxy,schema]
#               `microloop replay --board unix` on the bundled trajectories (the virtual
#               board), a user's own board file and trajectory directory, `microloop proxy
#               --help`, a schema policy, and the device side installed from the package
#               with `microloop deploy --mip` and `microloop deploy` (.mpy) on a virtual board.
# pip uses its cache, and the extras resolve to the versions installed by `make venv` (the
# pins of requirements/*.txt and their dependencies, passed as constraints), so a warm cache
# installs them without downloading anything.
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORKS = ("langchain_core", "langchain", "langgraph", "crewai", "autogen_core",
              "autogen_agentchat", "httpx", "starlette", "uvicorn", "pydantic", "jsonschema",
              "serial", "rich", "matplotlib")
ADAPTERS = {"langchain_adapter": "langchain", "langgraph_adapter": "langgraph",
            "crewai_adapter": "crewai", "autogen_adapter": "autogen"}
SCHEMA_POLICY = {"rules": [{"tool": "fetch", "schema": {"type": "object",
                                                        "required": ["url"]}}]}


def needs_line(what: str, extra: str) -> str:
    return f'{what} needs: pip install "microloop-mpy[{extra}]"'


class Env:
    """The fresh virtual environment and a working directory outside the repository."""

    def __init__(self, base: Path) -> None:
        self.dir = base / "venv"
        self.bin = self.dir / "bin"
        self.work = base / "work"
        self.work.mkdir()
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("PYTHONPATH", "VIRTUAL_ENV", "MICROPYTHON", "PYTHONHOME")}
        self.env["PATH"] = f"{self.bin}{os.pathsep}/usr/bin{os.pathsep}/bin"

    def run(self, *argv: str, timeout: float = 120, check: bool = True,
            **kw) -> subprocess.CompletedProcess:
        exe = argv[0] if "/" in argv[0] else str(self.bin / argv[0])
        r = subprocess.run([exe, *argv[1:]], cwd=kw.pop("cwd", self.work), env=self.env,
                           capture_output=True, text=True, timeout=timeout, **kw)
        if check:
            assert r.returncode == 0, f"{argv}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    def py(self, code: str, **kw) -> subprocess.CompletedProcess:
        return self.run("python", "-c", code, **kw)

    def pip(self, *args: str) -> None:
        """pip install into this environment. The environment is made without pip (ensurepip
        is slow): the running interpreter's pip installs into it with --python. --no-compile:
        byte-compiling every installed module would double the install time."""
        r = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check",
                            "--python", str(self.bin / "python"), "install", "-q",
                            "--no-compile", *args], capture_output=True, text=True,
                           timeout=600, cwd=self.work)
        assert r.returncode == 0, r.stdout + r.stderr


def _copy_source(dest: Path) -> None:
    skip = shutil.ignore_patterns(".git", ".venv", "node_modules", "build", "dist", "reports",
                                  "*.egg-info", "__pycache__", ".pytest_cache")
    shutil.copytree(ROOT, dest, symlinks=True, ignore=skip)


def _constraints(path: Path) -> Path:
    """The versions installed here (requirements/*.txt and what they pulled in) as pip
    constraints, so the fresh environment gets what the pip cache already holds."""
    pins = {d.metadata["Name"].lower(): d.version for d in metadata.distributions()
            if d.metadata["Name"] and d.metadata["Name"].lower() != "microloop-mpy"}
    path.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))
    return path


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("pkg")
    src = base / "src"
    _copy_source(src)
    out = base / "dist"
    r = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out),
                        str(src)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    wheels, sdists = list(out.glob("*.whl")), list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


@pytest.fixture(scope="module")
def venv(dist, tmp_path_factory) -> Env:
    """One fresh environment; the tests below run in file order (core only, then extras)."""
    e = Env(tmp_path_factory.mktemp("install"))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(e.dir)], check=True,
                   timeout=120)
    e.pip(str(dist["wheel"]))
    return e


def test_wheel_and_sdist_carry_the_data_the_commands_default_to(dist):
    names = set(zipfile.ZipFile(dist["wheel"]).namelist())
    bundled = {"boards": "*.json", "firmware": "*.py", "trajectories": "*.jsonl"}
    for sub, pattern in bundled.items():
        want = {f"microloop_tools/bundled/{sub}/{p.name}"
                for p in (ROOT / "tools" / "bundled" / sub).glob(pattern)}
        assert want and want <= names, sub
    assert {"microloop_host/presets/default.json", "microloop_mpy/guard.py",
            "microloop_host/extras.py"} <= names
    meta = zipfile.ZipFile(dist["wheel"]).read(
        next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    deps = [ln.split(": ", 1)[1] for ln in meta.splitlines() if ln.startswith("Requires-Dist:")]
    assert deps and all("extra ==" in d for d in deps), "the core must need nothing"
    assert not [d for d in deps if "==" in d.split(";")[0]], "extras take lower bounds, not pins"
    for extra in ("harness", "proxy", "schema", "langchain", "langgraph", "crewai", "autogen",
                  "all"):
        assert f"Provides-Extra: {extra}" in meta
    with tarfile.open(dist["sdist"]) as t:
        members = {m.name.split("/", 1)[1]: m for m in t.getmembers() if "/" in m.name}
    for name in ("setup.py", "pyproject.toml", "tools/bundled/boards/unix.json",
                 "tools/bundled/firmware/microloop_serve.py"):
        assert name in members and not members[name].issym(), name


def test_core_alone_imports_and_checks_with_no_framework(venv):
    r = venv.py(
        "import sys, microloop_mpy, microloop_host\n"
        "g = microloop_mpy.Guard(None)\n"
        "b = b'{\"tool\": \"t\", \"args\": {}}'\n"
        "print(g.check(b, 0, len(b)), microloop_host.Guardrail('strict').check('t', {}).code)\n"
        "print(microloop_mpy.__file__)\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({FRAMEWORKS!r})))\n")
    verdicts, where, loaded = r.stdout.splitlines()
    assert verdicts == "0 0"
    assert where.startswith(str(venv.dir)) and not where.startswith(str(ROOT))
    assert loaded == "[]", f"importing microloop_host imported {loaded}"


def test_cli_help_and_boards_without_extras(venv):
    out = venv.run("microloop", "--help").stdout
    for sub in ("build", "flash", "deploy", "replay", "vboard", "boards", "check-policy",
                "proxy"):
        assert sub in out
    boards = venv.run("microloop", "boards").stdout.split()
    assert {"esp32", "esp32s3", "rp2040", "unix"} <= set(boards)


@pytest.mark.parametrize("argv, what, extra", [
    (["replay", "--board", "unix"], "microloop replay", "harness"),
    (["build", "--board", "rp2040"], "microloop build", "harness"),
    (["vboard"], "microloop vboard", "harness"),
    (["deploy", "--board", "unix", "--port", "/dev/null", "--mip"], "microloop deploy",
     "harness"),
    (["proxy", "--help"], "microloop proxy", "proxy"),
    (["check-policy", "schema.json"], "microloop check-policy", "schema"),
])
def test_a_command_whose_extra_is_missing_says_which_in_one_line(venv, argv, what, extra):
    (venv.work / "schema.json").write_text(json.dumps(SCHEMA_POLICY))
    r = venv.run("microloop", *argv, check=False)
    assert r.returncode == 2
    assert r.stderr == needs_line(what, extra) + "\n", r.stderr


def test_an_import_whose_extra_is_missing_says_which_in_one_line(venv):
    code = (
        "import importlib, json, microloop_host\n"
        "out = {}\n"
        f"for mod in {sorted(ADAPTERS)!r}:\n"
        "    try:\n"
        "        importlib.import_module('microloop_host.' + mod)\n"
        "    except ImportError as e:\n"
        "        out[mod] = str(e)\n"
        "g = microloop_host.Guardrail()\n"
        "for meth in ('langchain_tool', 'crewai_tool', 'autogen_tool', 'tool_node'):\n"
        "    try:\n"
        "        getattr(g, meth)(None)\n"
        "    except ImportError as e:\n"
        "        out[meth] = str(e)\n"
        "for what in ('microloop_host.proxy', 'microloop_host.fake_upstream'):\n"
        "    try:\n"
        "        importlib.import_module(what)\n"
        "    except ImportError as e:\n"
        "        out[what] = str(e)\n"
        "try:\n"
        f"    microloop_host.Guardrail({SCHEMA_POLICY!r})\n"
        "except ImportError as e:\n"
        "    out['schema'] = str(e)\n"
        "print(json.dumps(out))\n")
    got = json.loads(venv.py(code).stdout)
    for mod, extra in ADAPTERS.items():
        assert got[mod] == needs_line(f"microloop_host.{mod}", extra)
    assert got["langchain_tool"] == needs_line("microloop_host.langchain_adapter", "langchain")
    assert got["crewai_tool"] == needs_line("microloop_host.crewai_adapter", "crewai")
    assert got["autogen_tool"] == needs_line("microloop_host.autogen_adapter", "autogen")
    assert got["tool_node"] == needs_line("microloop_host.langgraph_adapter", "langgraph")
    assert got["microloop_host.proxy"] == needs_line("microloop_host.proxy", "proxy")
    assert got["microloop_host.fake_upstream"] == needs_line("microloop_host.fake_upstream",
                                                             "proxy")
    assert got["schema"] == needs_line('a policy with "schema" rules', "schema")
    # an uncaught one: the message is the traceback's last line, with no chained error
    r = venv.py("import microloop_host.crewai_adapter", check=False)
    assert r.returncode == 1
    assert r.stderr.splitlines()[-1].endswith(needs_line("microloop_host.crewai_adapter",
                                                         "crewai"))
    assert "During handling" not in r.stderr and "ModuleNotFoundError" not in r.stderr


def test_package_json_needs_a_checkout(venv):
    r = venv.run("microloop", "package-json", check=False)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1
    assert "source checkout" in r.stderr and "Traceback" not in r.stderr


# ---- with [harness,proxy,schema] ----------------------------------------------------------
@pytest.fixture(scope="module")
def extras(venv, dist, tmp_path_factory) -> Env:
    cons = _constraints(tmp_path_factory.mktemp("constraints") / "constraints.txt")
    venv.pip(f"{dist['wheel']}[harness,proxy,schema]", "-c", str(cons))
    return venv


def _trajectory_names(report: Path) -> set[str]:
    """The trajectories the report finished (a CPython-only one is finished as skipped);
    each one started on the device had every one of its steps replayed."""
    recs = [json.loads(line) for line in report.read_text().splitlines()]
    want = {r["traj"]: r["steps"] for r in recs if r.get("type") == "traj"}
    ran = {t: sum(1 for r in recs if r.get("type") == "step" and r["traj"] == t) for t in want}
    assert ran == want, (want, ran)
    return {r["traj"] for r in recs if r.get("type") == "traj_done"}


def test_replay_on_the_virtual_board_with_the_bundled_trajectories(extras):
    report = extras.work / "reports" / "unix.jsonl"
    r = extras.run("microloop", "replay", "--board", "unix", "--report", str(report))
    assert "TOTAL" in r.stdout and "FAIL" not in r.stdout + r.stderr
    bundled = extras.py("from microloop_tools.paths import TRAJECTORIES_DIR as d\n"
                        "print(d)\nprint(len(list(d.glob('*.jsonl'))))").stdout.split()
    assert bundled[0].startswith(str(extras.dir))
    assert len(_trajectory_names(report)) == int(bundled[1]) >= 30


def test_replay_with_your_own_board_file_and_trajectory_directory(extras):
    mine = extras.work / "mine"
    mine.mkdir()
    bundled = Path(extras.py("from microloop_tools.paths import BUNDLED_DIR as d\n"
                             "print(d)").stdout.strip())
    board = json.loads((bundled / "boards" / "unix.json").read_text())
    board.update(name="mybox", description="my own virtual board", heapsize="192k")
    (mine / "mybox.json").write_text(json.dumps(board))
    trajs = mine / "trajs"
    trajs.mkdir()
    shutil.copy(bundled / "trajectories" / "core_cycle_abab.jsonl", trajs)
    report = extras.work / "mybox.jsonl"
    r = extras.run("microloop", "replay", "--board", str(mine / "mybox.json"), str(trajs),
                   "--report", str(report))
    assert "microloop replay on mybox" in r.stdout and "TOTAL" in r.stdout
    assert _trajectory_names(report) == {"core_cycle_abab"}
    bad = extras.run("microloop", "replay", "--board", str(mine / "nope.json"), check=False)
    assert bad.returncode == 2 and "no such board file" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_proxy_help_and_a_schema_policy_with_their_extras(extras):
    out = extras.run("microloop", "proxy", "--help").stdout
    assert "--upstream" in out and "--policy" in out
    (extras.work / "schema.json").write_text(json.dumps(SCHEMA_POLICY))
    assert "schema" in extras.run("microloop", "check-policy", "schema.json").stdout


def test_device_side_from_the_installed_package_mip_then_mpy(extras):
    flash = extras.work / "flash"
    flash.mkdir()
    vb = subprocess.Popen([str(extras.bin / "microloop"), "vboard", "--blank", "--flash",
                           str(flash)], cwd=extras.work, env=extras.env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = vb.stdout.readline().strip()
        assert port.startswith("/dev/"), vb.stderr.read() if vb.poll() is not None else port
        # the MicroPython way: mpremote mip install, from a package.json laid out by the package
        r = extras.run("microloop", "deploy", "--board", "unix", "--port", port, "--mip")
        staged = json.loads((extras.work / "build" / "mip" / "package.json").read_text())
        installed = {p.relative_to(flash / "lib").as_posix()
                     for p in (flash / "lib").rglob("*.py")}
        assert installed == {dest for dest, _ in staged["urls"]}, r.stdout + r.stderr
        assert "microloop_serve.py" in installed and "microloop_mpy/guard.py" in installed
        # .mpy: build for the board, copy, start serving
        extras.run("microloop", "deploy", "--board", "unix", "--port", port)
        assert (flash / "lib" / "microloop_mpy" / "guard.mpy").is_file()
        assert (flash / "main.py").is_file() and (flash / "microloop_serve.mpy").is_file()
        hello = extras.py(
            "import sys\nfrom microloop_tools.link import DeviceLink\n"
            f"L = DeviceLink.open({port!r})\nh = L.handshake(timeout=10)\n"
            "import microloop_mpy\n"
            "v = L.check(b'{\"tool\": \"t\", \"args\": {}}').verdict\n"
            "print(h.fw == microloop_mpy.__version__, v)\nL.close()\n")
        assert hello.stdout.split() == ["True", "0"]
    finally:
        vb.send_signal(signal.SIGTERM)
        try:
            vb.wait(10)
        except subprocess.TimeoutExpired:
            vb.kill()
            vb.wait(5)
