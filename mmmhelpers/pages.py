"""Executed notebooks -> the notebooks a renderer turns into pages (the same content for Quarto and nbconvert).

Both renderers: papermill's parameter cells go (their values are in manifest.json) and so do code cells
with nothing to show. For nbconvert, which does not read Quarto's ``#|`` cell options, the options are
applied here: ``#| include: false`` cells go, ``#| fig-cap`` becomes a caption under the figure, and the
``#|`` lines leave the code; the page template folds code behind "Show code" (workshop) or hides it (client).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

__all__ = ["for_rendering", "cell_options", "nav", "TEMPLATE"]

TEMPLATE = Path(__file__).parent / "templates" / "mmm_page.html.j2"
HIDDEN_TAGS = {"parameters", "injected-parameters"}
_OPTION = re.compile(r"^#\|\s*([\w-]+)\s*:\s*(.*?)\s*$")


def cell_options(source: str) -> dict[str, str]:
    """Quarto's ``#| key: value`` options at the top of a cell (quotes stripped)."""
    opts = {}
    for line in source.splitlines():
        m = _OPTION.match(line)
        if not m:
            break
        opts[m.group(1)] = m.group(2).strip("\"'")
    return opts


def _has_output(cell) -> bool:
    return any(o.get("output_type") != "stream" or o.get("text", "").strip() for o in cell.get("outputs", []))


def nav(stage: str, pages: dict[str, str]) -> str:
    """A line of links: back to the index and to every page (this one in bold)."""
    links = [f"**{title}**" if s == stage else f"[{title}]({s}.html)" for s, title in pages.items()]
    return "[← Summary](index.html) · " + " · ".join(links)


def for_rendering(path: Path, quarto: bool, nav: str | None = None, client: bool = False,
                  solutions: bool | None = None) -> nbformat.NotebookNode:
    """The executed notebook at ``path`` as the renderer should see it (see the module docstring); ``nav``
    (markdown) goes first and last, so every page links back to the index and to the others. In the ``client``
    version, cells tagged ``workshop-only`` (notes for analysts, e.g. how to install graphviz) are left out.
    ``solutions`` (an exercise case, ``report.exercise``): cells tagged ``truth`` go into collapsed callouts
    (True) or are left out (False); None: shown as they are."""
    nb = nbformat.read(path, as_version=4)
    cells = _kept_cells(nb, quarto, client)
    if solutions is not None:
        cells = _reveal(cells, quarto, solutions)
    if nav:
        cells = [nbformat.v4.new_markdown_cell(nav), *cells, nbformat.v4.new_markdown_cell(nav)]
    nb.cells = cells
    return nb


REVEAL_OPEN = '::: {.callout-tip collapse="true" title="Reveal: the truth"}'
HIDDEN_NOTE = "*The truth behind this part is hidden in this edition (rendered without solutions).*"


def _reveal(cells: list, quarto: bool, solutions: bool) -> list:
    """Each run of ``truth``-tagged cells inside one collapsed callout, or replaced by one line saying it is hidden.
    Without Quarto (nbconvert) the callout is a heading: nothing collapses there."""
    out: list = []
    run: list = []

    def close() -> None:
        if not run:
            return
        if not solutions:
            out.append(nbformat.v4.new_markdown_cell(HIDDEN_NOTE))
        elif quarto:
            out.extend([nbformat.v4.new_markdown_cell(REVEAL_OPEN), *run, nbformat.v4.new_markdown_cell(":::")])
        else:
            out.extend([nbformat.v4.new_markdown_cell("**Reveal: the truth** (predict first)"), *run])
        run.clear()

    for cell in cells:
        if "truth" in cell.metadata.get("tags", []):
            run.append(cell)
        else:
            close()
            out.append(cell)
    close()
    return out


def _html_as_markdown(cell) -> None:
    """Each HTML output (a table) as a raw-HTML block of markdown, the form Quarto itself writes it in.

    Quarto puts require.js and jQuery from a CDN in the head of any page with an HTML output, for widgets we
    never show: the page would load scripts from the internet when opened (or embed them when rendered online).
    """
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if "text/html" in data:
            html = data.pop("text/html")
            html = "".join(html) if isinstance(html, list) else html
            ticks = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", html)), default=0))
            data["text/markdown"] = f"{ticks}{{=html}}\n{html.rstrip()}\n{ticks}"


def _kept_cells(nb, quarto: bool, client: bool) -> list:
    """The cells a page shows, with the options nbconvert does not read applied (module docstring)."""
    cells = []
    for cell in nb.cells:
        tags = set(cell.metadata.get("tags", []))
        if HIDDEN_TAGS & tags or (client and "workshop-only" in tags):
            continue
        if cell.cell_type != "code":
            cells.append(cell)
            continue
        opts = cell_options(cell.source)
        if not _has_output(cell) or (not quarto and opts.get("include") == "false"):
            continue
        if not quarto:
            cell.source = "\n".join(line for line in cell.source.splitlines() if not _OPTION.match(line)).strip()
        else:
            _html_as_markdown(cell)
        cells.append(cell)
        if not quarto and "fig-cap" in opts:
            cells.append(nbformat.v4.new_markdown_cell(f'<p class="mmm-caption">{opts["fig-cap"]}</p>'))
    return cells
