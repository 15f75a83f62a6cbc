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

setup(packages=packages, package_dir=package_dir)
