# microloop_tools.pkg -- the root package.json that makes the guard one
# `mpremote mip install github:OWNER/microloop-mpy` away. Generated from the sources (the same
# module list as `microloop build`), so it cannot drift: `microloop package-json` rewrites it,
# a host test fails when it is stale. Sources, not .mpy: mip installs .py files into /lib.
from __future__ import annotations

import json
from pathlib import Path

from .build import FIRMWARE_MODULES, core_sources
from .paths import FIRMWARE_DIR, ROOT

PACKAGE_JSON = ROOT / "package.json"


def version() -> str:
    import microloop_mpy

    return microloop_mpy.__version__


def data() -> dict:
    urls = [[f"microloop_mpy/{p.name}", f"microloop_mpy/{p.name}"] for p in core_sources()]
    urls += [[name, f"firmware/{name}"] for name in FIRMWARE_MODULES
             if (FIRMWARE_DIR / name).exists()]
    return {"urls": urls, "deps": [], "version": version()}


def text() -> str:
    """package.json text, one [dest, source] pair per line."""
    d = data()
    pairs = ",\n".join(f"    {json.dumps(u)}" for u in d["urls"])
    return (f'{{\n  "urls": [\n{pairs}\n  ],\n  "deps": {json.dumps(d["deps"])},\n'
            f'  "version": {json.dumps(d["version"])}\n}}\n')


def write(path: Path = PACKAGE_JSON) -> Path:
    path.write_text(text())
    return path
