# microloop_tools.pkg -- the root package.json that makes the guard one
# `mpremote mip install github:OWNER/microloop-mpy` away. Generated from the sources (the same
# module list as `microloop build`), so it cannot drift: `microloop package-json` rewrites it,
# a host test fails when it is stale. Sources, not .mpy: mip installs .py files into /lib.
# Outside a source checkout (an installed wheel) `stage` lays the same sources and a
# package.json into a directory, so `microloop deploy --mip` works from the installed package.
from __future__ import annotations

import json
import shutil
from pathlib import Path

from .build import FIRMWARE_MODULES, core_sources
from .paths import CHECKOUT, CORE_DIR, FIRMWARE_DIR

# the repository's package.json; None when running from an installed package
PACKAGE_JSON = CHECKOUT / "package.json" if CHECKOUT is not None else None


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


def write(path: Path | None = None) -> Path:
    """Rewrite the checkout's package.json (or `path`); refused outside a source checkout."""
    path = path or PACKAGE_JSON
    if path is None:
        raise ValueError("package-json rewrites a source checkout's package.json, and this "
                         "microloop runs from an installed package (clone the repository)")
    path.write_text(text())
    return path


def stage(dest: Path) -> Path:
    """Copy the device sources (from the installed package) and a package.json listing them
    into `dest`, laid out as the repository is; returns the package.json's path."""
    base = {"microloop_mpy": CORE_DIR, "firmware": FIRMWARE_DIR}
    for _, src in data()["urls"]:
        top, name = src.split("/", 1)
        (dest / top).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(base[top] / name, dest / top / name)
    out = dest / "package.json"
    out.write_text(text())
    return out
