"""The website of every report (``mmmhelpers.site``): the cases the gallery lists, with their manifest's title and
health, and a report's thumbnail (the budget page's first figure, shrunk).

End-to-end: tests/test_pipeline.py::test_the_site_lists_every_report_and_its_links_resolve renders the site of a real
report with Quarto (it reuses that file's one pipeline run, so it stays there).
"""

import base64
import io

from PIL import Image
from test_artifacts import DIAG

from mmmhelpers.artifacts import Diagnostics, Manifest
from mmmhelpers.site import SITE, collect_cases, thumbnail


def _manifest(case: str, title: str, created: str) -> Manifest:
    """A report's manifest whose params file is gone (the gallery then shows the fit's health and no headline)."""
    return Manifest(case=case, title=title, params_file="/nowhere/case.yaml", params_sha256="0" * 64, seed=1,
                    quick=False, client=False, stages_run=["01_simulate"], renderer="nbconvert", git_commit="abc",
                    created=created, timings_seconds={}, total_seconds=1.0, versions={})


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buf, format="PNG")
    return buf.getvalue()


def _page(folder, name: str, *pngs: bytes) -> None:
    images = "".join(f'<img src="data:image/png;base64,{base64.b64encode(p).decode()}">' for p in pngs)
    (folder / name).write_text(f"<html><body><p>text</p>{images}</body></html>")


def test_the_gallery_lists_each_rendered_report_by_folder_with_its_title_and_health(tmp_path):
    reports = tmp_path / "reports"
    made = {"b_case": _manifest("beta", "Beta case", "2024-05-06T10:00"),
            "a_case": _manifest("alpha", "Alpha case", "2024-05-07T11:00")}
    for name, manifest in made.items():
        (reports / name).mkdir(parents=True)
        manifest.save(reports / name)
        (reports / name / "index.html").write_text("<p>report</p>")
    (reports / "b_case" / "artifacts").mkdir()
    Diagnostics.model_validate({**DIAG, "health": "amber"}).save(reports / "b_case")
    for skipped in (SITE, ".a_case.tmp-1", "half_written", "no_manifest"):
        (reports / skipped).mkdir()
    _manifest("half", "Half", "2024-05-08T00:00").save(reports / "half_written")  # no index.html yet
    (reports / "no_manifest" / "index.html").write_text("<p>not a report</p>")
    cases = collect_cases(reports)
    assert [c.folder for c in cases] == [reports / "a_case", reports / "b_case"]  # by folder name
    for c in cases:
        m = made[c.folder.name]
        assert (c.case, c.title, c.created, c.headline) == (m.case, m.title, m.created, "")
    assert [c.health for c in cases] == ["unknown", "amber"]  # the fit's health; none recorded: unknown


def test_a_thumbnail_is_the_budget_pages_first_figure_shrunk_to_the_width(tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    assert not thumbnail(report, tmp_path / "none.png") and not (tmp_path / "none.png").exists()  # no page
    _page(report, "02_fit.html", _png(800, 400))
    assert thumbnail(report, tmp_path / "fit.png", width=200)
    assert Image.open(tmp_path / "fit.png").size == (200, 100)  # the fit page's, as no budget page has one
    _page(report, "05_optimize.html", _png(300, 600), _png(900, 100))
    assert thumbnail(report, tmp_path / "plan.png", width=200)
    assert Image.open(tmp_path / "plan.png").size == (100, 200)  # the budget page's first figure, its aspect kept


def test_exercises_get_a_workshop_section_and_menu_with_their_questions():
    from pathlib import Path

    from mmmhelpers.site import SiteCase, _gallery, _quarto_yml

    cases = [SiteCase("default", "Default", Path("r/default"), "green", "Shift 500 to x1.", "2026-12-05"),
             SiteCase("w2", "Workshop 2", Path("r/w2"), "amber", "Exercise: How wide will it be?", "2026-12-05",
                      exercise=True)]
    gallery, yml = _gallery(cases, {"default": False, "w2": False}), _quarto_yml(cases, [])
    assert gallery.index("Shift 500 to x1.") < gallery.index("<h2>Workshop</h2>") < gallery.index("How wide")
    menu = yml[yml.index("text: Workshop"):]
    assert "reports/w2/index.html" in menu and "reports/default/index.html" not in menu
    assert "reports/default/index.html" in yml[:yml.index("text: Workshop")]


def test_a_title_with_quotes_and_colons_stays_one_menu_entry():
    """The mastering_mmm case's title holds double quotes: the site's _quarto.yml broke on it (quarto: bad indentation)."""
    from pathlib import Path

    import yaml

    from mmmhelpers.site import SiteCase, _quarto_yml

    title = 'Confounded demand, reproduced ("Mastering MMM"): part 1'
    yml = yaml.safe_load(_quarto_yml([SiteCase("m", title, Path("r/m"), "green", "", "2026-12-05")], []))
    menu = next(i for i in yml["website"]["navbar"]["left"] if i.get("text") == "Cases")["menu"]
    assert menu == [{"href": "reports/m/index.html", "text": title}]
