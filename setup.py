# Package list for setuptools (all metadata lives in pyproject.toml). Computed here because
# two things cannot be said in pyproject.toml alone: the directory tools/ is the import package
# microloop_tools, and microloop_host/ is included only when it exists (it is optional).
# Subpackages are found by their __init__.py; tools/wasm (node port, no __init__.py) is not one.
import os

from setuptools import find_packages, setup

packages = []
package_dir = {}
for name in ("microloop_mpy", "microloop_host"):
    if os.path.isfile(os.path.join(name, "__init__.py")):
        packages += [name] + [name + "." + p for p in find_packages(name)]
if os.path.isfile(os.path.join("tools", "__init__.py")):
    packages += ["microloop_tools"] + ["microloop_tools." + p for p in find_packages("tools")]
    package_dir["microloop_tools"] = "tools"
# Data-only directories (no __init__.py) that travel in the wheel; their files are listed in
# pyproject.toml's package-data. tools/bundled/* are symlinks to boards/, firmware/ and
# host_tests/trajectories/, which stay where they are.
for name, path in (("microloop_host.presets", "microloop_host/presets"),
                   ("microloop_tools.bundled", "tools/bundled"),
                   ("microloop_tools.bundled.boards", "tools/bundled/boards"),
                   ("microloop_tools.bundled.firmware", "tools/bundled/firmware"),
                   ("microloop_tools.bundled.trajectories", "tools/bundled/trajectories")):
    if os.path.isdir(path) and name.rsplit(".", 1)[0] in packages:
        packages.append(name)

setup(packages=packages, package_dir=package_dir)
