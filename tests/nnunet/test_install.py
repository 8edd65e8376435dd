"""The nnU-Net install recipe stays in step with nnunetv2: the `nnunet` extra (with petseg's own dependencies)
holds everything nnunetv2 and dynamic-network-architectures require but torch, each other and timm, and
`make nnunet` installs those two without their dependencies and the rest with the installed torch pinned."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LEFT_OUT = {"torch", "dynamic-network-architectures", "nnunetv2", "timm"}


def _name(requirement: str) -> str:
    return re.split(r"[\s;<>=!~\[(]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_the_nnunet_extra_covers_nnunetv2s_requirements():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    offered = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["nnunet"]}
    try:
        needed = [r for package in ("nnunetv2", "dynamic-network-architectures") for r in requires(package) or []]
    except PackageNotFoundError:
        pytest.skip("nnunetv2 is not installed (make nnunet)")
    missing = {_name(r) for r in needed if "extra ==" not in r} - LEFT_OUT - offered
    assert not missing, f"add to the nnunet extra in pyproject.toml: {sorted(missing)}"
    assert not {_name(r) for r in project["optional-dependencies"]["nnunet"]} & LEFT_OUT


def test_make_nnunet_never_lets_pip_replace_torch():
    recipe = (ROOT / "Makefile").read_text()
    assert re.search(r"pip install --quiet --no-deps \$\(NNUNET_SPEC\)", recipe)
    assert re.search(r"print\(\"torch==\" \+ torch.__version__\)' > \$\(VENV\)/torch-pin.txt", recipe)
    assert re.search(r"pip install --quiet -c \$\(VENV\)/torch-pin.txt -e \"\.\[nnunet\]\"", recipe)
    assert re.search(r"^dev: .*\$\(VENV\)/\.nnunet", recipe, re.MULTILINE)
