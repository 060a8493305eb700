"""``mmm-report slides REPORT``: a report's headline as a reveal.js deck (``REPORT/slides.html``), for a client
meeting or a lecture.

Built from what the run already made, nothing is re-computed: the index page's summary (its points, its health),
and the figures of the executed notebooks by their labels (the decomposition, the ROAS, the plan). Rendered by
Quarto, self-contained (one file that opens offline).
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import nbformat

from mmmhelpers.artifacts import Manifest
from mmmhelpers.config import load_params

__all__ = ["FIGURES", "figure_png", "slides_text", "build_slides", "SLIDES"]

SLIDES = "slides.html"
# slide title -> (executed notebook, the figure's label, what the slide says under it)
FIGURES = {
    "What drove the target": ("02_fit", "fig-decomposition", "Each component's contribution per period, 94% HDI."),
    "Return on each channel": ("02_fit", "fig-roas", "ROAS over the data and marginal ROAS, 94% HDI."),
    "The plan": ("05_optimize", "fig-plan", "Spend per period of the recommended plan against the historical and the "
                 "equal split."),
}


def figure_png(notebook: Path, label: str) -> bytes | None:
    """The PNG the executed ``notebook``'s cell labelled ``label`` (``#| label: ...``) shows, or None."""
    if not notebook.exists():
        return None
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "code" and re.search(rf"^#\|\s*label:\s*{re.escape(label)}\s*$", cell.source, re.M):
            for out in cell.get("outputs", []):
                png = out.get("data", {}).get("image/png")
                if png:
                    return base64.b64decode(png)
    return None


def _plain(text: str) -> str:
    return re.sub(r"[*`]", "", text).replace("@", "in")


def slides_text(title: str, made: str, health: str, points: list[tuple[str, str]], figures: dict[str, str]) -> str:
    """The deck's Markdown: a title slide, the summary's points (one slide each for the recommendation and the
    channels, the rest together), and one slide per figure (``figures``: slide title -> image file)."""
    keys = ("Recommendation", "Channels")
    lead = [(k, v) for k, v in points if k in keys]
    rest = [(k, v) for k, v in points if k not in keys and k != "Checks"]
    checks = dict(points).get("Checks", "")
    out = [f'---\ntitle: "{title.replace(chr(34), chr(39))}"\nsubtitle: "Report of {made[:10]} · health: {health}"\n'
           "format:\n  revealjs:\n    embed-resources: true\n    theme: default\n    slide-number: true\n"
           "    smaller: true\n---\n"]
    if rest:
        out.append("## In short\n\n" + "\n".join(f"- **{k}.** {_plain(v)}" for k, v in rest) + "\n")
    for k, v in lead:
        out.append(f"## {k}\n\n{_plain(v)}\n")
    for name, image in figures.items():
        caption = FIGURES[name][2]
        out.append(f"## {name}\n\n![{caption}]({image}){{fig-align=\"center\" height=\"480\"}}\n")
    if checks:
        out.append(f"## How sure we are\n\nHealth **{health}**. {_plain(checks)}\n")
    return "\n".join(out)


def build_slides(report: Path) -> Path:
    """Render ``report/slides.html`` from the report's summary and figures (needs Quarto)."""
    from mmmhelpers.pipeline import quarto_binary
    from mmmhelpers.summary import executive_summary

    report = Path(report).resolve()
    manifest = Manifest.load_or_none(report)
    if manifest is None:
        raise RuntimeError(f"{report}: no manifest.json: not a report folder (mmm-report run PARAMS makes one)")
    quarto = quarto_binary()
    if quarto is None:
        raise RuntimeError("the slides are rendered by Quarto (reveal.js): install it (conda-forge `quarto`, or its "
                           "installer)")
    summary = executive_summary(report, load_params(manifest.params_file), manifest.quick)
    work = Path(tempfile.mkdtemp(prefix="mmm-slides-"))
    try:
        figures = {}
        for k, (name, (stage, label, _)) in enumerate(FIGURES.items()):
            png = figure_png(report / "notebooks" / f"{stage}.ipynb", label)
            if png is not None:
                (work / f"figure{k}.png").write_bytes(png)
                figures[name] = f"figure{k}.png"
        (work / "slides.qmd").write_text(slides_text(manifest.title, manifest.created, summary.health, summary.points,
                                                     figures))
        proc = subprocess.run([quarto, "render", "slides.qmd"], cwd=work, capture_output=True, text=True)
        if proc.returncode != 0 or not (work / SLIDES).exists():
            raise RuntimeError(f"quarto render of the slides failed:\n{proc.stderr[-3000:]}")
        shutil.copy(work / SLIDES, report / SLIDES)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report / SLIDES
