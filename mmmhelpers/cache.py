"""Stage inputs and their hashes: which stages an unchanged case can skip, and when ``--only`` may reuse a stage.

A stage's inputs are the params sections its computation reads (its own and its upstream stages', ``SECTIONS``),
the params its page only shows (its own, ``PAGE``: units, titles, the data checks' warnings), the data file,
the notebook of every stage it depends on, the package's code and the ``--quick`` flag. Every params key is
in one of these lists or in ``NOT_INPUTS`` with the reason (a test checks that no key is left out).
``manifest.json`` keeps each stage's input hashes; a new run compares them (like Quarto's freeze, but for the
computation).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mmmhelpers.config import Params

__all__ = ["stage_inputs", "changed_stages", "stale_reuse", "SECTIONS", "PAGE", "NOT_INPUTS", "UPSTREAM"]

PACKAGE = Path(__file__).resolve().parent
SECTIONS = {
    "01_simulate": ["seed", "data", "simulate", "targets"],
    "02_fit": ["model", "refresh", "fit", "report.roas_range", "report.published", "report.reference",
               "model_variants"],
    "03_recovery": ["recovery"],
    "04_out_of_sample": ["out_of_sample"],
    "05_optimize": ["optimization", "out_of_sample.stability_refits"],  # the budget page's stability refits
}
UNITS = ["report.currency", "report.target_label", "report.period"]  # every page's numbers and axes say them
KPI = ["report.kpi_type", "report.kpi_value"]  # the fit page's ROAS table and the budget page's plan table add them
PAGE = {  # read by a stage's page only: a change re-runs that stage, not the stages after it
    "01_simulate": [*UNITS, "title", "description", "report.reference_url", "report.exercise"],  # (its correlations)
    "02_fit": [*UNITS, *KPI, "report.reference_url"],
    "03_recovery": UNITS,
    "04_out_of_sample": UNITS,
    "05_optimize": [*UNITS, *KPI, "report.reference_url"],
}
PAGE_ONLY = "page "  # the prefix of a page-only input: --only may reuse a stage whose page alone would change
NOT_INPUTS = {
    "case": "names the report folder",
    "execution": "where SBC draws and replicates run; the results are the same bit for bit",
    "report.client": "--client renders the pages again without re-running a stage",
    "source": "the params file's own path",
}
FILES = {  # params fields that name a file, and the stage that reads it: the file's bytes are that stage's input
    "data.truth": "01_simulate", "model.lift_tests": "02_fit", "model.experiments": "02_fit",
    "out_of_sample.forecast_plan": "04_out_of_sample", "out_of_sample.forecast_scenarios": "04_out_of_sample",
    "optimization.compare_plan": "05_optimize"}
UPSTREAM = {"01_simulate": [], "02_fit": ["01_simulate"], "03_recovery": ["01_simulate", "02_fit"],
            "04_out_of_sample": ["01_simulate", "02_fit"], "05_optimize": ["01_simulate", "02_fit"]}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _section(dumped: dict, name: str):
    value: Any = dumped
    for key in name.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _hash(dumped: dict, section: str) -> str:
    return _sha(json.dumps(_section(dumped, section), sort_keys=True).encode())


def _code_hash() -> str:
    files = sorted([*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.j2")])
    return _sha(b"".join(f.relative_to(PACKAGE).as_posix().encode() + f.read_bytes() for f in files))


def named_files(params: Params, field: str) -> list[Path]:
    """The files a ``FILES`` field names (one, or a mapping of names to files), resolved against the params file."""
    section, key = field.split(".")
    value = getattr(getattr(params, section), key, None)  # None: no such section (a case without optimization)
    values = [value[k] for k in sorted(value)] if isinstance(value, dict) else [value] if value is not None else []
    return [params.resolve(v) for v in values]


def _file_hash(params: Params, field: str) -> str:
    """The bytes' hash of the file a params field names ("none" when it names none, "missing" when it is absent)."""
    paths = named_files(params, field)
    if not paths:
        return "none"
    if not all(p.is_file() for p in paths):
        return "missing"
    return _sha(b"".join(p.read_bytes() for p in paths)) if len(paths) > 1 else _sha(paths[0].read_bytes())


def stage_inputs(params: Params, notebooks: Path, data_sha256: str | None, quick: bool) -> dict[str, dict[str, str]]:
    """For every stage, its inputs by name -> short hash."""
    dumped = params.model_dump(mode="json", exclude={"source"})
    code = _code_hash()
    out = {}
    for stage in SECTIONS:
        deps = [*UPSTREAM[stage], stage]
        inputs = {f"params.{sec}": _hash(dumped, sec) for dep in deps for sec in SECTIONS[dep]}
        inputs |= {f"{PAGE_ONLY}params.{sec}": _hash(dumped, sec) for sec in PAGE[stage]}
        inputs |= {f"notebook {dep}": _sha((notebooks / f"{dep}.ipynb").read_bytes()) for dep in deps}
        inputs |= {f"file {field}": _file_hash(params, field) for field, reader in FILES.items() if reader in deps}
        inputs |= {"data file": data_sha256 or "simulated", "code (mmmhelpers)": code, "quick": str(bool(quick))}
        out[stage] = inputs
    return out


def changed_stages(old: dict[str, dict[str, str]], new: dict[str, dict[str, str]]) -> list[str]:
    """The stages whose inputs differ from the last run's (every stage when there is no record)."""
    return [s for s in new if old.get(s) != new[s]]


def stale_reuse(old: dict[str, dict[str, str]], new: dict[str, dict[str, str]], only: list[str]) -> list[str]:
    """Why ``--only`` must not reuse the other stages' artifacts: one line per reused upstream stage whose
    inputs changed, naming what changed (empty when the reuse is safe)."""
    reasons = []
    needed = {dep for s in only for dep in UPSTREAM[s]} - set(only)
    for stage in [s for s in SECTIONS if s in needed]:
        was = old.get(stage)
        if was is None:
            reasons.append(f"{stage}: the earlier report does not record its inputs")
            continue
        diff = [k for k in new[stage] if was.get(k) != new[stage][k] and not k.startswith(PAGE_ONLY)]
        if diff:
            reasons.append(f"{stage} was made with other inputs: {', '.join(diff)} changed")
    return reasons
