"""The committed notebooks: clean, parameterized, generated from their jupytext sources, thin."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from mmmhelpers.pipeline import STAGES

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def _builder():
    spec = importlib.util.spec_from_file_location("build_notebooks", NOTEBOOKS / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("stage", STAGES)
def test_notebook_is_clean_and_parameterized(stage):
    nb = nbformat.read(NOTEBOOKS / f"{stage}.ipynb", as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"  # papermill's kernel
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not any(c.get("outputs") for c in code), "committed with outputs"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "params_path" in params[0].source and "run_dir" in params[0].source
    for c in code:
        logic = [line for line in c.source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        assert len(logic) <= 15, f"cell of {len(logic)} lines belongs in mmmhelpers:\n{c.source}"


@pytest.mark.parametrize("stage", STAGES)
def test_notebook_layout(stage):
    """Title, then the tagged parameters cell (papermill injects after it), then the set-up cell."""
    title, parameters, setup = nbformat.read(NOTEBOOKS / f"{stage}.ipynb", as_version=4).cells[:3]
    assert title.cell_type == "markdown" and title.source.startswith("# ")
    assert parameters.cell_type == "code" and parameters.metadata.get("tags") == ["parameters"]
    assert setup.cell_type == "code" and setup.source.startswith("#| include: false\n")
    assert "%matplotlib inline" in setup.source.splitlines(), "the magic must be real code, not a comment"
    assert "params = setup(params_path, quick, run_dir)" in setup.source


def test_notebooks_match_their_source():
    builder = _builder()
    sources = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    assert [p.stem for p in sources] == list(STAGES)
    for source in sources:
        assert source.with_suffix(".ipynb").read_text() == builder.build(source), \
            f"{source.with_suffix('.ipynb').name} is stale: run python notebooks/build_notebooks.py"
    proc = subprocess.run([sys.executable, str(NOTEBOOKS / "build_notebooks.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_check_detects_a_stale_notebook(tmp_path, capsys):
    builder = _builder()
    stage = STAGES[0]
    for ext in (".py", ".ipynb"):
        shutil.copy(NOTEBOOKS / f"{stage}{ext}", tmp_path)
    assert builder.main(check=True, folder=tmp_path) == 0
    source = tmp_path / f"{stage}.py"
    source.write_text(source.read_text().replace("plt.show()", "plt.show()  # edited", 1))
    assert builder.main(check=True, folder=tmp_path) == 1
    assert f"{stage}.ipynb" in capsys.readouterr().out
    assert builder.main(folder=tmp_path) == 0  # regenerate
    assert builder.main(check=True, folder=tmp_path) == 0
    cells = nbformat.read(tmp_path / f"{stage}.ipynb", as_version=4).cells
    assert any("plt.show()  # edited" in c.source for c in cells)
    (tmp_path / f"{stage}.ipynb").unlink()  # a missing notebook is stale too
    assert builder.main(check=True, folder=tmp_path) == 1
