"""The "what changed" page (``changes.html``) of a refreshed report: the data against the last report's, the last
report's forecast of the new periods scored and what its miss points to, every channel's ROAS report by report, the
last plan beside this one, and how stable this report's numbers are. Written from the artifacts only, beside the
index, when the run replaced a report whose data differed."""

from __future__ import annotations

import html
import re
from pathlib import Path

import jinja2
import pandas as pd

from mmmhelpers.config import Params
from mmmhelpers.formatting import first_upper
from mmmhelpers.refresh import (
    Backtest,
    DataDiff,
    backtest_sentence,
    moved_sentence,
    plan_history,
    plan_history_sentence,
    roas_history,
)
from mmmhelpers.refresh_priors import carried_sentence
from mmmhelpers.report import table
from mmmhelpers.stability import Stability, stability_sentence

__all__ = ["CHANGES", "changes_sections", "write_changes"]

CHANGES = "changes.html"
TEMPLATE = Path(__file__).parent / "templates" / "changes.html.j2"


def _words(text: str) -> str:
    """A page sentence as HTML: escaped, ``**bold**`` kept."""
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(text))


def _table(df: pd.DataFrame, percent: tuple[str, ...] = ()) -> str:
    return table(df, percent).to_html()


def _causes(b: Backtest) -> pd.DataFrame:
    return pd.DataFrame([{"term of the model": c.term, "scaled by": c.multiplier, "standard errors from no change":
                          c.z, "share of the miss it explains": c.explained, "P(the term that changed)": c.probability}
                         for c in b.causes])


def changes_sections(run_dir: Path, params: Params) -> list[tuple[str, list[str], str]] | None:
    """The page's sections ``(title, sentences, table as HTML)``; None when this run replaced no report whose data
    differed."""
    diff = DataDiff.load_or_none(run_dir)
    if diff is None or not diff.changed:
        return None
    sections = [("The data", [diff.sentence(), *(first_upper(w) + "." for w in diff.warnings())], ""),
                ("This report's priors", [carried_sentence(run_dir, diff.period) or (
                    "A full refit: the params' own priors, every period in the likelihood (refresh.priors: params; "
                    "last_report would carry the last report's posterior and count the new periods only)."
                    if diff.added else "The params' own priors.")], "")]
    b = Backtest.load_or_none(run_dir)
    if b is not None:
        sections.append((f"The last report's forecast of the new {diff.period}s", [backtest_sentence(b, diff.period)],
                         _table(_causes(b), ("share of the miss it explains", "P(the term that changed)")) if b.causes else ""))
    history = roas_history(run_dir)
    if history is not None:
        sections.append(("Every channel's ROAS, report by report", [moved_sentence(history)], _table(history)))
    plans = plan_history(run_dir)
    if plans is not None:
        sections.append(("The plan, last report and this one",
                         [plan_history_sentence(run_dir, plans, params.report.currency)], _table(plans)))
    stability = Stability.load_or_none(run_dir)
    if stability is not None:
        sections.append(("How stable this report's numbers are", [stability_sentence(stability)],
                         _table(stability.roas_frame())))
    return sections


def write_changes(run_dir: Path, params: Params) -> Path | None:
    """``changes.html`` in ``run_dir`` from its artifacts, or no page (a stale one removed) when nothing changed."""
    path = Path(run_dir) / CHANGES
    sections = changes_sections(Path(run_dir), params)
    if sections is None:
        path.unlink(missing_ok=True)
        return None
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE.parent), autoescape=False)
    page = env.get_template(TEMPLATE.name).render(
        title=html.escape(params.title), case=html.escape(params.case),
        sections=[(html.escape(t), [_words(s) for s in words], tab) for t, words, tab in sections])
    path.write_text(page)
    return path
