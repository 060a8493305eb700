"""Pages: what each renderer gets from an executed notebook (Quarto's cell options applied for nbconvert)."""

import nbformat

from mmmhelpers.pages import cell_options, for_rendering


def _nb(tmp_path):
    nb = nbformat.v4.new_notebook()
    out = nbformat.v4.new_output("display_data", data={"text/plain": "a figure"})
    nb.cells = [
        nbformat.v4.new_code_cell("params_path = 'x'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("#| include: false\nimport numpy", outputs=[out]),
        nbformat.v4.new_code_cell('#| label: fig-a\n#| fig-cap: "Spend over time."\nplot()', outputs=[out]),
        nbformat.v4.new_code_cell("x = 1"),  # nothing to show
        nbformat.v4.new_markdown_cell("Some words."),
    ]
    path = tmp_path / "page.ipynb"
    nbformat.write(nb, path)
    return path


def test_cell_options_read_quartos_header():
    assert cell_options('#| label: fig-a\n#| fig-cap: "A caption: with a colon"\ncode()\n#| not: this') == {
        "label": "fig-a", "fig-cap": "A caption: with a colon"}


def test_nbconvert_gets_quartos_options_applied(tmp_path):
    cells = for_rendering(_nb(tmp_path), quarto=False).cells
    assert [c.cell_type for c in cells] == ["code", "markdown", "markdown"]
    assert cells[0].source == "plot()"  # no #| lines left
    assert "Spend over time." in cells[1].source and "mmm-caption" in cells[1].source
    assert not any("#|" in c.source for c in cells)


def test_quarto_keeps_its_options_and_both_drop_empty_and_parameter_cells(tmp_path):
    cells = for_rendering(_nb(tmp_path), quarto=True).cells
    assert [c.source.splitlines()[0] for c in cells] == ["#| include: false", "#| label: fig-a", "Some words."]


def test_client_version_leaves_out_workshop_notes_and_every_page_gets_navigation(tmp_path):
    nb = nbformat.v4.new_notebook()
    out = nbformat.v4.new_output("display_data", data={"text/markdown": "install graphviz"})
    nb.cells = [nbformat.v4.new_code_cell("note()", metadata={"tags": ["workshop-only"]}, outputs=[out])]
    path = tmp_path / "p.ipynb"
    nbformat.write(nb, path)
    assert len(for_rendering(path, quarto=True).cells) == 1
    client = for_rendering(path, quarto=True, nav="[← Summary](index.html)", client=True).cells
    assert [c.source for c in client] == ["[← Summary](index.html)"] * 2


def test_an_exercise_puts_each_run_of_truth_cells_in_one_collapsed_callout_or_leaves_it_out(tmp_path):
    from mmmhelpers.pages import HIDDEN_NOTE, REVEAL_OPEN

    nb = nbformat.v4.new_notebook()

    def shown(text, tags=()):
        out = nbformat.v4.new_output("display_data", data={"text/plain": text})
        return nbformat.v4.new_code_cell(f"show({text!r})", metadata={"tags": list(tags)}, outputs=[out])

    nb.cells = [shown("the fit"), shown("true table", ["truth"]), shown("true curve", ["truth"]),
                nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["truth"]}),  # nothing to show: dropped
                shown("the plan"), shown("judged by the truth", ["truth"])]
    path = tmp_path / "p.ipynb"
    nbformat.write(nb, path)

    def sources(**kw):
        return [c.source for c in for_rendering(path, quarto=True, **kw).cells]

    assert sources() == sources(solutions=None) == ["show('the fit')", "show('true table')", "show('true curve')",
                                                    "show('the plan')", "show('judged by the truth')"]
    assert sources(solutions=True) == ["show('the fit')", REVEAL_OPEN, "show('true table')", "show('true curve')",
                                       ":::", "show('the plan')", REVEAL_OPEN, "show('judged by the truth')", ":::"]
    assert 'collapse="true"' in REVEAL_OPEN
    hidden = sources(solutions=False)
    assert hidden == ["show('the fit')", HIDDEN_NOTE, "show('the plan')", HIDDEN_NOTE]
    plain = for_rendering(path, quarto=False, solutions=True).cells  # nbconvert: a heading, nothing collapses
    assert [c.source for c in plain][1].startswith("**Reveal: the truth**")


def test_quarto_gets_html_tables_as_raw_html_blocks_and_nbconvert_as_they_are(tmp_path):
    """Quarto links require.js and jQuery from a CDN into any page with a text/html output: the tables go to it as
    raw-HTML markdown (Quarto's own form of an HTML output), fenced past any backticks the table holds."""
    nb = nbformat.v4.new_notebook()
    html = "<table><tr><td>```code```</td></tr></table>"
    out = nbformat.v4.new_output("display_data", data={"text/html": html, "text/plain": "a table"})
    nb.cells = [nbformat.v4.new_code_cell("table()", outputs=[out])]
    path = tmp_path / "p.ipynb"
    nbformat.write(nb, path)
    data = for_rendering(path, quarto=True).cells[0].outputs[0].data
    assert "text/html" not in data and data["text/markdown"] == f"````{{=html}}\n{html}\n````"
    assert for_rendering(path, quarto=False).cells[0].outputs[0].data["text/html"] == html


def test_a_run_renders_the_pages_of_the_stages_it_ran_or_all_when_the_render_settings_changed(tmp_path, monkeypatch):
    from mmmhelpers import pipeline
    from mmmhelpers.artifacts import Manifest

    stages = pipeline.STAGES
    monkeypatch.setattr(pipeline, "quarto_binary", lambda: "/usr/bin/quarto")
    (tmp_path / "notebooks").mkdir()
    for s in stages:
        (tmp_path / "notebooks" / f"{s}.ipynb").write_text("{}")
        (tmp_path / f"{s}.html").write_text("<html></html>")
    old = Manifest.model_construct(client=False, solutions=None, renderer="quarto")

    def pages(ran, last=old, version=(False, None)):
        return pipeline._pages_to_render(tmp_path, ran, last, version)

    assert pages(["05_optimize"]) == ["05_optimize"]  # a new budget: its page only
    assert pages([]) == stages  # nothing ran: the report settings or the renderer changed
    assert pages(["05_optimize"], version=(True, None)) == stages  # the client version now
    assert pages(["05_optimize"], last=old.model_copy(update={"renderer": "nbconvert"})) == stages
    assert pages(["05_optimize"], last=None) == stages  # no earlier report
    (tmp_path / "03_recovery.html").unlink()
    assert pages(["05_optimize"]) == ["03_recovery", "05_optimize"]  # a page missing is rendered too
