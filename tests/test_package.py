"""The installed package (not the checkout) carries the notebooks and the Quarto settings, and finds them from a
folder that holds only a params file."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # builds and installs the package (pip, seconds)


def test_the_installed_package_carries_its_notebooks_and_finds_them_in_an_empty_folder(tmp_path):
    src = tmp_path / "src"  # a copy of what the build reads, so that the build leaves the checkout as it was
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "_quarto.yml", "_quarto-client.yml"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "mmmhelpers", src / "mmmhelpers", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "notebooks", src / "notebooks", ignore=shutil.ignore_patterns("*_files", ".quarto"))
    pkg = tmp_path / "pkg"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(pkg), str(src)],
                   check=True, capture_output=True, text=True, timeout=600)
    for stage in ("01_simulate", "05_optimize"):  # the notebooks as the checkout has them
        assert (pkg / "mmmhelpers" / "_notebooks" / f"{stage}.ipynb").read_bytes() == \
            (ROOT / "notebooks" / f"{stage}.ipynb").read_bytes()
    assert (pkg / "mmmhelpers" / "_project" / "_quarto.yml").read_bytes() == (ROOT / "_quarto.yml").read_bytes()
    folder = tmp_path / "client"
    folder.mkdir()
    shutil.copy(ROOT / "params" / "default.yaml", folder / "case.yaml")
    env = {**os.environ, "PYTHONPATH": str(pkg)}
    proc = subprocess.run([sys.executable, "-c", "import mmmhelpers.pipeline as p; print(p.NOTEBOOKS, p.CHECKOUT)"],
                          cwd=folder, env=env, capture_output=True, text=True, check=True)
    assert proc.stdout.split() == [str(pkg / "mmmhelpers" / "_notebooks"), "False"]  # the package's own copies
    proc = subprocess.run([sys.executable, "-m", "mmmhelpers.cli", "validate", "case.yaml"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "case.yaml: OK" in proc.stdout, proc.stderr
    # A whole run from here (`mmm-report run case.yaml`) renders the report: 41 s for params/default.yaml, measured
    # by hand; left out of the suite for its time. What it needs beyond the checkout's code is checked above.
