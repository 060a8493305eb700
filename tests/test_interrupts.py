"""Runs that stop early: health gates (``fit.fail_on``); a kernel's shutdown says nothing."""

from pathlib import Path

import nbformat
import pytest

from mmmhelpers import pipeline
from mmmhelpers.artifacts import Diagnostics
from mmmhelpers.config import FitSpec
from mmmhelpers.pipeline import STAGES, gate_failures

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "params" / "tiny.yaml"


def stand_in_notebooks(folder: Path, code: dict[str, str]) -> Path:
    """Five notebooks with papermill's parameters cell; a stage's code is ``code[stage]`` (default: nothing)."""
    folder.mkdir(parents=True, exist_ok=True)
    for stage in STAGES:
        params = nbformat.v4.new_code_cell('params_path = ""\nrun_dir = ""\nquick = False')
        params.metadata["tags"] = ["parameters"]
        nb = nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell(code.get(stage, "pass"))])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, folder / f"{stage}.ipynb")
    return folder


SLOW_LAST_REPLY = """
import asyncio, time
kernel = get_ipython().kernel
reply = kernel.shell_handlers["kernel_info_request"]

async def slow(*args):  # papermill's last request: the kernel keeps handling it for a second after replying
    result = reply(*args)
    if asyncio.iscoroutine(result):
        await result
    time.sleep(1.0)

kernel.shell_handlers["kernel_info_request"] = slow
"""


def test_kernel_shutdown_prints_nothing(tmp_path, monkeypatch, capfd):
    """jupyter_client interrupts a kernel before shutting it down; when the SIGINT lands while the kernel
    finishes its last reply, the kernel logs "KeyboardInterrupt caught in kernel" on our stderr."""
    import papermill as pm

    notebooks = stand_in_notebooks(tmp_path / "nb", {"01_simulate": SLOW_LAST_REPLY})
    kernel = pipeline.ensure_kernel()
    run = tmp_path / "run"
    (run / "notebooks").mkdir(parents=True)
    pm.execute_notebook(str(notebooks / "01_simulate.ipynb"), str(tmp_path / "plain.ipynb"), kernel_name=kernel,
                        progress_bar=False, extra_arguments=["--IPKernelApp.log_level=ERROR"])
    assert "KeyboardInterrupt caught in kernel" in capfd.readouterr().err  # the cause, with papermill's own manager
    monkeypatch.setattr(pipeline, "NOTEBOOKS", notebooks)
    pipeline._execute("01_simulate", run, TINY, quick=False, kernel=kernel, progress=False)
    assert capfd.readouterr().err == ""
    assert (run / "notebooks" / "01_simulate.ipynb").exists()


DIAG = {"sampler": "nutpie", "chains": 2, "draws": 100, "tune": 150, "compile_seconds": 20.0,
        "sampling_seconds": 5.0, "divergences": 3, "rhat_max": 1.0312, "ess_bulk_min": 212.4, "ess_tail_min": 150.0,
        "bfmi_min": 0.25, "ess_bulk_min_variable": "saturation_lam[x1]", "rhat_max_variable": "y_sigma",
        "ess_bulk_per_second": 8.5, "health": "red"}


def test_gates_name_each_failure_and_its_value():
    diag = Diagnostics.model_validate(DIAG)
    gates = FitSpec.FailOn(divergences=0, rhat=1.01, ess_bulk=400, bfmi=0.3)
    assert gate_failures(diag, gates) == [
        "3 divergences > 0", "max R-hat 1.031 > 1.01 (y_sigma)", "min bulk ESS 212 < 400 (saturation_lam[x1])",
        "min E-BFMI 0.25 < 0.3"]
    assert gate_failures(diag, FitSpec.FailOn(divergences=3, rhat=1.05, ess_bulk=200, bfmi=0.2)) == []
    assert gate_failures(diag, None) == []
    assert gate_failures(diag, FitSpec.FailOn(ess_bulk=1e6)) == ["min bulk ESS 212 < 1,000,000 (saturation_lam[x1])"]
    one_chain = Diagnostics.model_validate({**DIAG, "rhat_max": float("nan")})
    assert gate_failures(one_chain, FitSpec.FailOn(rhat=1.01)) == ["max R-hat could not be computed (gate 1.01)"]


def test_gates_are_optional_and_checked():
    assert FitSpec().fail_on is None
    assert FitSpec.model_validate({"fail_on": {"rhat": 1.01}}).fail_on.divergences is None
    with pytest.raises(ValueError, match="ess_bulkk"):
        FitSpec.model_validate({"fail_on": {"ess_bulkk": 400}})
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        FitSpec.model_validate({"fail_on": {"rhat": 0.99}})
