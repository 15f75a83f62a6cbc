# microloop_host.extras -- the optional parts of microloop-mpy and the one line that says how to
# install a missing one. The core (microloop_mpy) needs nothing; every other dependency comes
# with a pip extra (pyproject.toml [project.optional-dependencies]), and code that needs one
# calls `need(...)` before importing it, so a missing dependency stops with
#     microloop proxy needs: pip install "microloop-mpy[proxy]"
# instead of a ModuleNotFoundError traceback from deep inside.
from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator

DIST = "microloop-mpy"


class MissingExtra(ImportError):
    """An optional dependency is not installed. `str(exc)` is the one-line message."""

    def __init__(self, extra: str, what: str, note: str = "") -> None:
        self.extra = extra
        self.what = what
        self.note = note
        super().__init__(message(extra, what, note))


def message(extra: str, what: str, note: str = "") -> str:
    """`WHAT needs: pip install "microloop-mpy[EXTRA]"` (and a short note, if any)."""
    line = f'{what} needs: pip install "{DIST}[{extra}]"'
    return f"{line} ({note})" if note else line


def missing(*modules: str) -> list[str]:
    """The top-level modules of `modules` that cannot be imported here (none are imported)."""
    out = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(name)
    return out


def need(extra: str, what: str, *modules: str) -> None:
    """Raise MissingExtra naming `extra` unless every module in `modules` is installed."""
    if missing(*modules):
        raise MissingExtra(extra, what)


def need_for_policy(policy: object, what: str) -> None:
    """Raise MissingExtra("schema") when `policy` has a rule with a JSON Schema ("schema", a
    CPython-only rule kind) and jsonschema is not installed."""
    rules = policy.get("rules") if isinstance(policy, dict) else None
    if isinstance(rules, list) and any(isinstance(r, dict) and "schema" in r for r in rules):
        need("schema", what, "jsonschema")


@contextlib.contextmanager
def requires(extra: str, what: str, *modules: str) -> Iterator[None]:
    """Around the imports of an optional dependency: a ModuleNotFoundError for one of
    `modules` (top-level names) becomes MissingExtra; any other error passes unchanged."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in modules:
            raise MissingExtra(extra, what) from None
        raise
