"""A report as a slide deck (``mmmhelpers.slides``): the figure a labelled notebook cell shows, and the deck's Markdown
from the summary's points and the figures.

End-to-end: tests/test_pipeline.py::test_a_report_renders_as_a_slide_deck_with_its_figures_and_headline renders the
deck of a real report with Quarto (it reuses that file's one pipeline run, so it stays there).
"""

import base64

import nbformat

from mmmhelpers.slides import FIGURES, figure_png, slides_text


def _cell(source: str, png: bytes | None = None):
    cell = nbformat.v4.new_code_cell(source)
    if png is not None:
        cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(png).decode()})]
    return cell


def test_the_figure_of_a_labelled_cell_is_its_png(tmp_path):
    stage, label, _ = FIGURES["The plan"]
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(f"#| label: {label}"),  # not a code cell
        _cell(f"#| label: {label}-old\nfig", b"older figure"),  # another label that starts the same
        _cell(f"x = 1\n#| label: {label}\nfig", b"the plan figure"),
        _cell("#| label: fig-no-output\nfig")])
    path = tmp_path / f"{stage}.ipynb"
    nbformat.write(nb, path)
    assert figure_png(path, label) == b"the plan figure"
    assert figure_png(path, "fig-no-output") is None and figure_png(path, "fig-missing") is None
    assert figure_png(tmp_path / "not_run.ipynb", label) is None


def test_the_deck_has_a_title_the_points_the_figures_and_the_checks_in_order():
    points = [("Data", "40 weeks, 2 channels"), ("Recommendation", "Move **10%** from `tv @ north` to search"),
              ("Channels", "search returned the most"), ("Checks", "every check passed")]
    plan = "The plan"  # one of FIGURES' slides: its caption comes from there
    text = slides_text('The "tiny" case', "2024-05-06T10:00:00", "green", points, {plan: "figure2.png"})
    assert text.startswith("---\ntitle: \"The 'tiny' case\"\nsubtitle: \"Report of 2024-05-06 · health: green\"\n")
    slides = ["## In short\n\n- **Data.** 40 weeks, 2 channels\n",
              "## Recommendation\n\nMove 10% from tv in north to search\n",
              "## Channels\n\nsearch returned the most\n",
              f"## {plan}\n\n![{FIGURES[plan][2]}](figure2.png)",
              "## How sure we are\n\nHealth **green**. every check passed\n"]
    at = [text.index(s) for s in slides]
    assert at == sorted(at)
    assert text.count("## ") == len(slides)  # Checks only on its own slide, no figure without an image
