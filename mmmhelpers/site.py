"""``mmm-report site``: every rendered case in one Quarto website.

A gallery page (each case's title, health, headline and a thumbnail of its first budget or fit figure), the reports
themselves (copied as they are: self-contained pages), the docs as pages, a navigation bar and the site's search.
Rendered with Quarto, offline; the reports are not re-run (``mmm-report run`` each case first).
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mmmhelpers.artifacts import Diagnostics, Manifest
from mmmhelpers.config import load_params

__all__ = ["SiteCase", "collect_cases", "build_site", "SITE"]

SITE = "_site"  # reports/_site: not a case folder (case names start with a letter or digit)
HEALTH = {"green": "#1a7f37", "amber": "#b35900", "red": "#c62828", "unknown": "#6e7781"}
_PNG = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
DOCS = Path(__file__).resolve().parent.parent / "docs"


@dataclass
class SiteCase:
    """One rendered report as the gallery shows it."""

    case: str
    title: str
    folder: Path
    health: str
    headline: str  # the summary's recommendation (or its channels' sentence), plain text; an exercise's question
    created: str
    exercise: bool = False  # a workshop case (report.exercise): listed under "Workshop"


def _headline(folder: Path, manifest: Manifest) -> tuple[str, str, bool]:
    """The report's health, one sentence of its summary (an exercise: its question) and whether it is an exercise
    (its params file read again; else the fit's health)."""
    from mmmhelpers.summary import executive_summary

    try:
        params = load_params(manifest.params_file)
        summary = executive_summary(folder, params, manifest.quick)
    except Exception:  # noqa: BLE001 - the params moved or changed shape: the gallery still lists the report
        diag = Diagnostics.load_or_none(folder)
        return (diag.health if diag else "unknown"), "", False
    if params.report.exercise is not None:
        return summary.health, "Exercise: " + params.report.exercise.question.strip(), True
    points = dict(summary.points)
    text = points.get("Recommendation") or points.get("Channels") or points.get("Data", "")
    return summary.health, re.sub(r"[*`_]", "", text), False


def collect_cases(reports: Path) -> list[SiteCase]:
    """Every report folder below ``reports`` (its ``index.html`` and ``manifest.json``), by case name."""
    cases = []
    for folder in sorted(p for p in Path(reports).iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        manifest = Manifest.load_or_none(folder)
        if manifest is None or not (folder / "index.html").exists():
            continue
        health, headline, exercise = _headline(folder, manifest)
        cases.append(SiteCase(manifest.case, manifest.title, folder, health, headline, manifest.created, exercise))
    return cases


def thumbnail(folder: Path, out: Path, width: int = 480) -> bool:
    """The first figure of the report's budget page (else its fit page), shrunk to ``width`` pixels, as ``out``."""
    from PIL import Image

    for page in ("05_optimize.html", "02_fit.html", "01_simulate.html"):
        path = folder / page
        match = _PNG.search(path.read_text(errors="ignore")) if path.exists() else None
        if match:
            image = Image.open(io.BytesIO(base64.b64decode(match.group(1))))
            image.thumbnail((width, width))
            image.save(out)
            return True
    return False


def _cards(cases: list[SiteCase], thumbs: dict[str, bool]) -> str:
    """The gallery's grid of cards, one per case."""
    cards = []
    for c in cases:
        img = (f'<a href="reports/{c.case}/index.html"><img src="thumbs/{c.case}.png" alt="first figure of '
               f'{html.escape(c.title)}" style="width:100%;height:200px;object-fit:cover;object-position:top;'
               'border:1px solid #ddd"></a>' if thumbs[c.case] else "")
        cards.append(
            f'<div class="mmm-card" style="border:1px solid #ddd;border-radius:6px;padding:12px">'
            f'<a href="reports/{c.case}/index.html"><strong>{html.escape(c.title)}</strong></a> '
            f'<span style="background:{HEALTH[c.health]};color:white;border-radius:4px;padding:1px 6px;'
            f'font-size:0.8em">{c.health}</span><br><code>{c.case}</code> · made {html.escape(c.created[:16])}'
            f'<p style="margin:6px 0">{html.escape(c.headline)}</p>{img}</div>')
    grid = '<div style="display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:16px">'
    return grid + "\n".join(cards) + "</div>"


def _gallery(cases: list[SiteCase], thumbs: dict[str, bool]) -> str:
    empty = "<p>No rendered report yet: run <code>mmm-report run params/CASE.yaml</code>.</p>"
    reports, workshop = [c for c in cases if not c.exercise], [c for c in cases if c.exercise]
    body = _cards(reports, thumbs) if reports else empty if not workshop else ""
    if workshop:
        body += ("<h2>Workshop</h2><p>Short exercises on simulated data, one pathology each: read the question, "
                 "predict, then open the report (docs: workshop).</p>" + _cards(workshop, thumbs))
    return ("---\ntitle: Every case\npage-layout: full\n---\n\n"
            f"{len(cases)} report{'s' if len(cases) != 1 else ''}, each with its "
            "health (green: the sampler converged and the checks passed) and its headline. A report is its own "
            "self-contained page; the docs are in the menu.\n\n```{=html}\n" + body + "\n```\n")


def _quarto_yml(cases: list[SiteCase], docs: list[Path]) -> str:
    doc_items = "\n".join(f"          - href: docs/{d.name}\n            text: {d.stem.replace('_', ' ')}" for d in docs)
    def item(c: SiteCase) -> str:  # the title as a JSON string: a YAML scalar whatever quotes it holds
        return f"          - href: reports/{c.case}/index.html\n            text: {json.dumps(c.title)}"

    case_items = "\n".join(item(c) for c in cases if not c.exercise)
    workshop = "\n".join(item(c) for c in cases if c.exercise)
    workshop_menu = f"      - text: Workshop\n        menu:\n{workshop}\n" if workshop else ""
    return f"""project:
  type: website
  output-dir: _site
  resources:
    - reports/
    - thumbs/
website:
  title: "MMM reports"
  search: true
  navbar:
    left:
      - href: index.qmd
        text: Every case
      - text: Cases
        menu:
{case_items or '          - href: index.qmd'}
{workshop_menu}      - text: Docs
        menu:
{doc_items or '          - href: index.qmd'}
format:
  html:
    theme: default
    toc: true
"""


def build_site(reports: Path, out: Path, docs: Path = DOCS) -> tuple[Path, list[SiteCase]]:
    """Render the website of every report below ``reports`` into ``out`` (replaced); returns its index page."""
    from mmmhelpers.pipeline import quarto_binary

    quarto = quarto_binary()
    if quarto is None:
        raise RuntimeError("mmm-report site needs Quarto (conda-forge `quarto`, or its installer): it renders the "
                           "gallery, the docs and the search; the reports themselves need only a browser")
    reports, out = Path(reports).resolve(), Path(out).resolve()
    cases = collect_cases(reports)
    temp = Path(tempfile.mkdtemp(prefix="mmm-site-"))
    work = temp / "site"  # Quarto skips inputs below a hidden folder
    try:
        (work / "thumbs").mkdir(parents=True)
        (work / "docs").mkdir()
        thumbs = {c.case: thumbnail(c.folder, work / "thumbs" / f"{c.case}.png") for c in cases}
        for c in cases:  # as they are (self-contained pages); the site's search indexes the gallery and the docs
            shutil.copytree(c.folder, work / "reports" / c.case, ignore=shutil.ignore_patterns("*.failed", ".render"))
        pages = sorted(Path(docs).glob("*.md")) if Path(docs).is_dir() else []
        for page in pages:
            shutil.copy(page, work / "docs" / page.name)
        (work / "index.qmd").write_text(_gallery(cases, thumbs))
        (work / "_quarto.yml").write_text(_quarto_yml(cases, pages))
        proc = subprocess.run([quarto, "render", "."], cwd=work, capture_output=True, text=True)
        if proc.returncode != 0 or not (work / "_site" / "index.html").exists():
            raise RuntimeError(f"quarto render of the site failed:\n{proc.stderr[-3000:]}")
        shutil.rmtree(out, ignore_errors=True)
        shutil.move(str(work / "_site"), str(out))
    finally:  # the working copy of every report goes, whatever failed
        shutil.rmtree(temp, ignore_errors=True)
    return out / "index.html", cases
