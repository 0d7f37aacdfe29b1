"""Maps the design card's folders to unambiguous import names.

core/ -> l2r_core, training/ -> l2r_training, l2r_desktop/ -> l2r_desktop,
resources/ -> l2r_resources (data only). Bare `core`/`training` would collide with
users' own modules, so they are never installed under those names.
"""
from setuptools import find_packages, setup

FOLDERS = {
    "l2r_core": "core",
    "l2r_training": "training",
    "l2r_desktop": "l2r_desktop",
    "l2r_resources": "resources",
}

package_dir: dict[str, str] = {}
for name, folder in FOLDERS.items():
    package_dir[name] = folder
    for sub in find_packages(folder):
        package_dir[f"{name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"

setup(
    packages=list(package_dir),
    package_dir=package_dir,
    package_data={"l2r_resources": ["**/*"], "l2r_core": ["py.typed"]},
    include_package_data=True,
)
