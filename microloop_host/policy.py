# Policy loading for host code: a preset name, a JSON file or a dict becomes the dict that
# microloop_mpy.Guard validates. It never validates or changes a policy itself: the core is
# the one judge of what a policy means, on the host as on the device.
from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

# The presets live in the package (microloop_host/presets/*.json, the one source of truth);
# the repository's policies/*.json are symlinks to them.
PRESETS = ("strict", "default", "lenient")


def preset(name: str) -> dict[str, Any]:
    """The preset policy `name` as a dict."""
    if name not in PRESETS:
        raise ValueError(f"unknown policy preset {name!r} (presets: {', '.join(PRESETS)})")
    text = resources.files("microloop_host").joinpath("presets", f"{name}.json").read_text("utf-8")
    return json.loads(text)


def load_policy(policy: str | Path | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A policy dict from a preset name, a path to a JSON file, a dict, or None (defaults)."""
    if policy is None:
        return None
    if isinstance(policy, Mapping):
        return copy.deepcopy(dict(policy))
    if isinstance(policy, str) and policy in PRESETS:
        return preset(policy)
    if not isinstance(policy, (str, Path)):
        raise ValueError(f"policy must be a preset name, a path or a dict, not {type(policy)!r}")
    path = Path(policy)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ValueError(
            f"policy {str(policy)!r}: not a preset ({', '.join(PRESETS)}) and not a readable "
            f"file ({exc.strerror or exc})"
        ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"policy file {str(path)!r}: invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"policy file {str(path)!r}: the top level must be a JSON object")
    return data
