"""``mmm-report verify REPORT``: re-execute a report from its manifest and certify that its numbers reproduce.

The manifest names the params file, the data file and their hashes, the commit, the package versions and the
``--quick`` flag. ``verify`` checks that those inputs can still be found unchanged (else it fails: the report
cannot be reproduced from what is here), re-runs the case into a temporary folder with every stage forced, and
compares every number in the two reports' artifacts (JSON records, CSV tables, the posterior and the truth) within
a stated tolerance. Wall-clock times and cache states are not results and are left out. It writes
``certificate.json`` and ``certificate.html`` into the report: what matched, what differed, and what in the
environment may explain a difference (another commit, uncommitted changes, another package version).
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mmmhelpers.artifacts import Manifest
from mmmhelpers.cache import FILES, _file_hash, named_files
from mmmhelpers.config import load_params
from mmmhelpers.refresh import Backtest, DataDiff
from mmmhelpers.refresh_priors import RefreshPriors

__all__ = ["Difference", "Certificate", "compare_reports", "verify", "NOT_RESULTS"]

NOT_RESULTS = ("seconds", "per_second", "compile_cache", "created")  # keys holding wall-clock times or cache states
# the same tables as tables/*.csv in a spreadsheet; the data against the report this run replaced (not a result
# of the inputs: a re-run replaces none)
SKIPPED_FILES = {"tables.xlsx", DataDiff.FILE, Backtest.FILE}


@dataclass
class Difference:
    file: str
    where: str
    report: object
    rerun: object
    note: str = ""


@dataclass
class Certificate:
    report: str
    verdict: str  # reproduced | differs | inputs not recoverable
    rtol: float
    atol: float
    inputs: list[dict] = field(default_factory=list)  # what, status, detail
    environment: list[str] = field(default_factory=list)  # what differs from the run that made the report
    compared: int = 0
    differences: list[Difference] = field(default_factory=list)

    def save(self, report: Path) -> None:
        (report / "certificate.json").write_text(json.dumps(asdict(self), indent=2, default=str) + "\n")
        (report / "certificate.html").write_text(_html(self))


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= atol + rtol * abs(b)


def _leaves(value, path: str = ""):
    """``(path, leaf)`` of a JSON value, skipping keys that hold times or cache states."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not any(word in str(k) for word in NOT_RESULTS):
                yield from _leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, value


def _compare_json(name: str, a: Path, b: Path, rtol: float, atol: float) -> tuple[int, list[Difference]]:
    left, right = dict(_leaves(json.loads(a.read_text()))), dict(_leaves(json.loads(b.read_text())))
    diffs, n = [], 0
    for where in sorted(set(left) | set(right)):
        x, y = left.get(where, "(missing)"), right.get(where, "(missing)")
        n += 1
        same = _close(float(x), float(y), rtol, atol) if _is_number(x) and _is_number(y) else x == y
        if not same:
            diffs.append(Difference(name, where, x, y))
    return n, diffs


def _compare_csv(name: str, a: Path, b: Path, rtol: float, atol: float) -> tuple[int, list[Difference]]:
    left, right = pd.read_csv(a), pd.read_csv(b)
    if list(left.columns) != list(right.columns) or len(left) != len(right):
        return 1, [Difference(name, "shape", f"{len(left)} rows {list(left.columns)}",
                              f"{len(right)} rows {list(right.columns)}")]
    diffs, n = [], 0
    for col in left.columns:
        x, y = left[col], right[col]
        n += len(x)
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            xv, yv = x.to_numpy(float), y.to_numpy(float)
            bad = ~(np.isclose(xv, yv, rtol=rtol, atol=atol) | (np.isnan(xv) & np.isnan(yv)))
        else:
            bad = (x.astype(str) != y.astype(str)).to_numpy()
        diffs += [Difference(name, f"row {i + 2}, {col}", x.iloc[i], y.iloc[i]) for i in np.flatnonzero(bad)[:5]]
        if bad.sum() > 5:
            diffs.append(Difference(name, f"{col}", "", "", f"and {int(bad.sum()) - 5} more rows"))
    return n, diffs


def _compare_netcdf(name: str, a: Path, b: Path, rtol: float, atol: float) -> tuple[int, list[Difference]]:
    import xarray as xr

    groups = ["posterior", "posterior_predictive", "sample_stats"] if name.endswith("idata.nc") else [None]
    diffs, n = [], 0
    for group in groups:
        try:
            left, right = (xr.open_dataset(p, group=group, engine="h5netcdf") for p in (a, b))
        except OSError:  # the group is not in this file
            continue
        with left, right:
            for var in sorted(set(map(str, left.data_vars)) | set(map(str, right.data_vars))):
                where = f"{group}/{var}" if group else var
                if var not in left or var not in right:
                    diffs.append(Difference(name, where, var in left, var in right, "only in one of them"))
                    continue
                x, y = left[var].values, right[var].values
                n += x.size
                if any(word in var for word in ("time", "step_size_bar")) and group == "sample_stats":
                    continue
                if x.shape != y.shape:
                    diffs.append(Difference(name, where, str(x.shape), str(y.shape), "shapes differ"))
                elif np.issubdtype(x.dtype, np.number) and not np.allclose(x, y, rtol=rtol, atol=atol, equal_nan=True):
                    worst = float(np.nanmax(np.abs(x - y)))
                    diffs.append(Difference(name, where, "", "", f"largest difference {worst:.3g}"))
    return n, diffs


def compare_reports(report: Path, rerun: Path, rtol: float = 1e-9, atol: float = 0.0) -> tuple[int, list[Difference]]:
    """How many numbers the two reports' artifacts hold, and every one that differs beyond ``rtol``/``atol``
    (a file in only one of them is a difference too)."""
    a_dir, b_dir = Path(report) / "artifacts", Path(rerun) / "artifacts"
    files = sorted({p.relative_to(a_dir) for p in a_dir.rglob("*") if p.is_file()} |
                   {p.relative_to(b_dir) for p in b_dir.rglob("*") if p.is_file()})
    total, diffs = 0, []
    for rel in files:
        name = rel.as_posix()
        a, b = a_dir / rel, b_dir / rel
        if rel.name in SKIPPED_FILES or rel.parts[0] == "variants" and rel.suffix not in (".json", ".nc"):
            continue
        if not a.exists() or not b.exists():
            diffs.append(Difference(name, "file", a.exists(), b.exists(), "only in one of them"))
            continue
        compare = {".json": _compare_json, ".csv": _compare_csv, ".nc": _compare_netcdf}.get(rel.suffix)
        if compare is None:
            continue
        n, d = compare(name, a, b, rtol, atol)
        total, diffs = total + n, diffs + d
    return total, diffs


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def inputs_of(manifest: Manifest) -> list[dict]:
    """Each input the manifest names: found and unchanged, or what is wrong."""
    rows = []
    for what, file, sha in [("params file", manifest.params_file, manifest.params_sha256),
                            ("data file", manifest.data_file, manifest.data_sha256)]:
        if file is None:
            continue
        path = Path(file)
        if not path.exists():
            rows.append({"what": what, "status": "missing", "detail": f"{file} is not there"})
        elif sha and _sha256(path) != sha:
            rows.append({"what": what, "status": "changed", "detail": f"{file}: its bytes differ from the report's "
                         f"(sha256 {sha[:12]}… then, {_sha256(path)[:12]}… now)"})
        else:
            rows.append({"what": what, "status": "ok", "detail": file})
    return rows


def _named_files(manifest: Manifest) -> list[dict]:
    """The files the params name (experiments, lift tests, a forecast plan, a truth file): unchanged since the
    report, by the stage inputs the manifest records."""
    params = load_params(manifest.params_file)
    rows = []
    for field_name, stage in FILES.items():
        then = manifest.stage_inputs.get(stage, {}).get(f"file {field_name}")
        if then is None or then == "none":
            continue
        now = _file_hash(params, field_name)
        status = "ok" if now == then else "missing" if now == "missing" else "changed"
        rows.append({"what": field_name, "status": status,
                     "detail": ", ".join(str(p) for p in named_files(params, field_name))})
    return rows


def _carried_priors(report: Path, manifest: Manifest) -> list[dict]:
    """A refresh's priors from the last report's posterior (kept in the report: that posterior is not): unchanged
    since the run, by the stage input the manifest records."""
    then = manifest.stage_inputs.get("02_fit", {}).get(RefreshPriors.INPUT)
    if then is None:
        return []
    carried = RefreshPriors.load_or_none(report)
    now = None if carried is None else carried.digest()
    status = "ok" if now == then else "missing" if now is None else "changed"
    return [{"what": "refresh priors", "status": status, "detail": f"{RefreshPriors.path(report)} (the last "
             "report's posterior, moment-matched)"}]


def _environment(manifest: Manifest) -> list[str]:
    """What differs between the run that made the report and this machine now."""
    from mmmhelpers.pipeline import _git_commit, _git_dirty, _versions

    notes = []
    commit = _git_commit()
    if commit != manifest.git_commit:
        notes.append(f"code: the report was made at commit {manifest.git_commit[:12]}, this checkout is at "
                     f"{commit[:12]}")
    if manifest.git_dirty:
        notes.append("code: the report was made with uncommitted changes")
    if _git_dirty():
        notes.append("code: this checkout has uncommitted changes")
    now = _versions()
    for pkg, then in sorted(manifest.versions.items()):
        if now.get(pkg) != then:
            notes.append(f"package {pkg}: {then} in the report, {now.get(pkg)} here")
    return notes


def verify(report: str | Path, rtol: float = 1e-9, atol: float = 0.0, against: str | Path | None = None,
           say=print) -> Certificate:
    """Re-execute ``report`` from its manifest (or compare it with ``against``, a re-run made elsewhere) and write
    its certificate; the certificate says ``reproduced`` only when every number matched."""
    from mmmhelpers.pipeline import run

    report = Path(report).resolve()
    if not (report / "manifest.json").exists():
        raise FileNotFoundError(f"{report}: no manifest.json: not a report folder (mmm-report run writes one)")
    manifest = Manifest.load(report)
    cert = Certificate(str(report), "reproduced", rtol, atol)
    cert.inputs = inputs_of(manifest)
    if all(r["status"] == "ok" for r in cert.inputs if r["what"] == "params file"):
        cert.inputs += _named_files(manifest)
    cert.inputs += _carried_priors(report, manifest)
    cert.environment = _environment(manifest)
    if against is None and any(r["status"] != "ok" for r in cert.inputs):
        cert.verdict = "inputs not recoverable"
        cert.save(report)
        return cert
    rerun = Path(against).resolve() if against is not None else report.parent / f".{report.name}.verify"
    try:
        if against is None:
            shutil.rmtree(rerun, ignore_errors=True)
            say(f"verify: re-running {manifest.params_file} ({'--quick, ' if manifest.quick else ''}every stage) "
                f"into {rerun}")
            run(manifest.params_file, out=rerun, quick=manifest.quick, force=True, progress=False, pages=False,
                refresh_priors=RefreshPriors.load_or_none(report))  # a refresh's carried priors: an input it kept
        cert.compared, cert.differences = compare_reports(report, rerun, rtol, atol)
    finally:
        if against is None:
            shutil.rmtree(rerun, ignore_errors=True)
    cert.verdict = "reproduced" if not cert.differences else "differs"
    cert.save(report)
    return cert


def _html(cert: Certificate) -> str:
    """The certificate as a page a person reads."""
    import html

    def rows(items, cells) -> str:
        return "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells(i)) + "</tr>" for i in items)

    color = {"reproduced": "#1a7f37", "differs": "#b35900", "inputs not recoverable": "#b00020"}[cert.verdict]
    env = "".join(f"<li>{html.escape(n)}</li>" for n in cert.environment) or "<li>the same commit and package " \
        "versions as the run that made the report</li>"
    diffs = rows(cert.differences[:200], lambda d: (d.file, d.where, d.report, d.rerun, d.note))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Reproducibility certificate</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}}
table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left}}</style>
</head><body><h1>Reproducibility certificate</h1>
<p><a href="index.html">&larr; the report</a></p>
<p style="font-size:1.3em;color:{color}"><b>{html.escape(cert.verdict)}</b>: {cert.compared:,} numbers compared,
{len(cert.differences)} differing beyond a relative tolerance of {cert.rtol:g} (absolute {cert.atol:g}). Wall-clock
times and cache states are not compared.</p>
<h2>Inputs</h2><table><tr><th>input</th><th>status</th><th>detail</th></tr>
{rows(cert.inputs, lambda r: (r["what"], r["status"], r["detail"]))}</table>
<h2>Environment</h2><ul>{env}</ul>
<h2>Differences</h2>
{"<p>None.</p>" if not cert.differences else
 "<table><tr><th>file</th><th>where</th><th>report</th><th>re-run</th><th>note</th></tr>" + diffs + "</table>"}
</body></html>
"""
