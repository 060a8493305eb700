"""The committed notebooks: clean, parameterized, in sync with their source, thin."""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from mmmhelpers.pipeline import STAGES

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("stage", STAGES)
def test_notebook_is_clean_and_parameterized(stage):
    nb = nbformat.read(ROOT / "notebooks" / f"{stage}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not any(c.get("outputs") for c in code), "committed with outputs"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "params_path" in params[0].source and "run_dir" in params[0].source
    for c in code:
        logic = [line for line in c.source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        assert len(logic) <= 15, f"cell of {len(logic)} lines belongs in mmmhelpers:\n{c.source}"


def test_notebooks_match_their_source():
    proc = subprocess.run([sys.executable, str(ROOT / "notebooks" / "build_notebooks.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
