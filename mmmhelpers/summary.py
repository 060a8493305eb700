"""The index page: an executive summary in plain words, generated from the run's artifacts only.

It says the data period, what drove the target, the top channels by contribution and ROAS, the
recommended reallocation with its paired gain, what the checks say, and a health banner that explains
every threshold a check failed and what to do. Every number carries its unit (``report.currency``,
``report.target_label``). The page is a jinja2 template (``templates/index.html.j2``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pandas as pd

from mmmhelpers.artifacts import (
    Allocation,
    Diagnostics,
    Manifest,
    OutOfSample,
    Review,
    load_data,
    load_recovery,
)
from mmmhelpers.budget_page import EXTRAPOLATION_WORDS, robustness_sentence
from mmmhelpers.config import Params
from mmmhelpers.contributions import prior_dominated_sentence, uninformed_channels
from mmmhelpers.exports import load_table
from mmmhelpers.formatting import as_percent, first_upper, plain_number
from mmmhelpers.intervals import LIKELY, as_probability
from mmmhelpers.next_test import next_test_sentence
from mmmhelpers.refresh import Backtest, DataDiff, moved_sentence, roas_history
from mmmhelpers.stability import Stability, stability_sentence
from mmmhelpers.truth import truth_sentence

__all__ = ["Summary", "executive_summary", "write_index", "HEALTH_COLORS", "PAGES"]

HEALTH_COLORS = {"green": "#1b7f3b", "amber": "#b26a00", "red": "#b3261e", "unknown": "#555"}
PAGES = {"01_simulate": "Data", "02_fit": "Model fit", "03_recovery": "Parameter recovery",
         "04_out_of_sample": "Out-of-sample checks", "05_optimize": "Budget optimization"}
TEMPLATE = Path(__file__).parent / "templates" / "index.html.j2"


@dataclass
class Summary:
    """What the index says: the banner, the summary's points (label, sentence) and the details table."""

    health: str
    banner: str
    banner_items: list[tuple[str, str]] = field(default_factory=list)  # (check, what it found and what to do)
    points: list[tuple[str, str]] = field(default_factory=list)
    details: list[tuple[str, str]] = field(default_factory=list)
    # an exercise case (report.exercise): the points that rest on the truth, kept for the answer's reveal
    reveal: list[tuple[str, str]] = field(default_factory=list)


def _hdi(lo: float, hi: float, unit: str = "") -> str:
    return f"94% HDI {unit}{plain_number(lo)} to {unit}{plain_number(hi)}"


def _pct(v: float) -> str:
    return as_percent(v, 0)


def _pct_hdi(m: float, lo: float, hi: float) -> str:
    return f"{_pct(m)} (94% HDI {_pct(lo)} to {_pct(hi)})"


def _data_period(run_dir: Path, given: str | None) -> tuple[str | None, str]:
    """The data's span in words, and the period word of one row (day, week, month): ``report.period`` when the
    params give it, else the data's own."""
    try:
        data = load_data(run_dir)
    except OSError:  # stage 01 did not run
        return None, given or "week"
    dates, word = data.dates, given or data.period
    return f"{len(dates)} {word}s, {dates[0]:%d %b %Y} to {dates[-1]:%d %b %Y}.", word


def _forecast(parts: pd.DataFrame, per_period: pd.DataFrame, params: Params, target: str, period: str) -> str:
    """The forecast page's window total and its media parts, in one sentence (the page's numbers)."""
    row = parts.set_index("part")
    total, media = row.loc["target (forecast, with noise)"], row.loc["media: added by the window's spend"]
    carried = row.loc["media: carryover of the data's spend"]
    dates = pd.to_datetime(per_period["date"]).drop_duplicates().sort_values()
    plan = params.out_of_sample.forecast_plan
    what = f"the plan in {plan.name}" if plan is not None else "spend held at its last level"
    return (f"Over the {len(dates)} {period}s from {dates.iloc[0]:%d %b %Y} ({what}): {target} "
            f"{plain_number(total['mean'])} (94% HDI {plain_number(total['94% low'])} to "
            f"{plain_number(total['94% high'])}), of which the window's media spend adds {plain_number(media['mean'])} "
            f"and the carryover of earlier spend {plain_number(carried['mean'])}.")


def _chance(p) -> str:
    """', the largest in 83% of the posterior draws' from a probability column (nothing when it is missing)."""
    return "" if p is None or pd.isna(p) else f" in {p:.0%} of the posterior draws"


def _drivers(drivers: pd.DataFrame, target: str, period: str = "week") -> str:
    """Group shares with intervals; groups that net to under 1% either way (seasonality over whole years,
    one-off events) are named together rather than shown as "0% (0% to 0%)"."""
    rows = drivers.to_dict("records")
    small = [r["component"] for r in rows if max(abs(r["share 3%"]), abs(r["share 97%"])) < 0.01]
    parts = [f"{r['component']} {_pct_hdi(r['share'], r['share 3%'], r['share 97%'])}" for r in rows
             if r["component"] not in small]
    text = f"Shares of {target} explained by the model: " + "; ".join(parts) + "."
    if small:
        verb = "nets" if len(small) == 1 else "net"
        text += (f" {first_upper(' and '.join(small))} {verb} to under 1% of {target} over these {period}s "
                 f"(they move it between {period}s more than they add to it).")
    return text


def channels_sentence(contrib: pd.DataFrame | None, roas: pd.DataFrame | None, target: str, cur: str,
              period: str = "week", uninformed: Sequence[str] = (), unstable: Sequence[str] = ()) -> str | None:
    """The channels' headline: the largest contribution, and the highest ROAS among the channels something pins down
    (a ROAS that is the prior's is not a finding: the next sentence names those channels)."""
    bits = []
    if contrib is not None:
        media = contrib[contrib["kind"] == "media"].sort_values("contribution", ascending=False)
        if len(media):
            top = media.iloc[0]
            bits.append(f"{top.component} contributed the most: {plain_number(top.contribution)} {target} "
                        f"({_hdi(top['HDI 3%'], top['HDI 97%'])}), {top.share:.0%} of the total; it is the largest"
                        f"{_chance(top.get('P(largest)'))}")
    known = None if roas is None else roas[~roas["channel"].astype(str).isin(uninformed)]
    if known is not None and "cost per KPI" in known and known["cost per KPI"].notna().any():  # a count KPI
        best = known.sort_values("cost per KPI").iloc[0]
        unit = f"{cur} " if cur else ""
        bits.append(f"over the data's {period}s, {best.channel} cost the least per unit of {target}: "
                    f"{unit}{plain_number(best['cost per KPI'])} (median; "
                    f"{_hdi(best['cost per KPI 3%'], best['cost per KPI 97%'])})"
                    + (f", a ROAS of {unit}{plain_number(best['ROAS (value)'])} per {unit or 'currency unit '}spent "
                       "at the KPI's value" if "ROAS (value)" in best and pd.notna(best["ROAS (value)"]) else ""))
    elif known is not None and known["ROAS"].notna().any():
        best = known.sort_values("ROAS", ascending=False).iloc[0]
        unit = cur or "currency unit"
        bits.append(f"over the data's {period}s, {best.channel} returned the most per {unit} spent: ROAS "
                    f"{plain_number(best.ROAS)} {target} per {unit} ({_hdi(best['ROAS 3%'], best['ROAS 97%'])}), the "
                    f"highest{_chance(best.get('P(highest ROAS)'))}; one more {unit} in each of those {period}s would "
                    f"have returned {plain_number(best.mROAS)} per {unit} (marginal ROAS; the budget page's marginal ROAS "
                    "is at the plan's spend, in the plan's window)"
                    + (f"; **unstable**: without the last few {period}s its ROAS left this interval (out-of-sample "
                       "page)" if best.channel in unstable else ""))
    return "; ".join(bits) + "." if bits else None


def _plan(alloc: Allocation, target: str, cur: str, period: str = "week", unstable: Sequence[str] = ()) -> str:
    moves = []
    for hist, best in zip(alloc.initial.allocation, alloc.allocation):
        label = best.label
        if abs(best.spend_per_period - hist.spend_per_period) > 0.005 * alloc.budget_per_period:
            moves.append(f"{label} {cur}{plain_number(hist.spend_per_period)} → "
                         f"{cur}{plain_number(best.spend_per_period)}"
                         + (" (**unstable**: a refit without the last few "
                            f"{period}s moved it the other way)" if label in unstable else ""))
    g = alloc.initial.gain
    assert g is not None  # allocate gives every baseline its gain
    lo, hi = g.hdi_94
    text = (f"For {cur}{plain_number(alloc.budget_per_period)} per {period} over {alloc.num_periods} {period}s, the "
            f"recommended split ({'; '.join(moves) or 'the historical split is already optimal'}) adds an expected "
            f"{plain_number(g.mean)} {target} over the historical split ({_hdi(lo, hi)}); it does better in "
            f"{as_probability(g.prob_positive)} of the posterior draws{' not used to choose it' if g.held_out else ''}.")
    if alloc.extrapolation_allowed:
        text += f" {EXTRAPOLATION_WORDS}"
    if g.prob_positive < LIKELY:
        text += " That is not a confident win: treat the reallocation as a hypothesis to test, not a decision."
    return text


def _checks(diag: Diagnostics | None, review: Review | None, oos: OutOfSample | None, rec, period: str = "week") -> str:
    bits = []
    if review is not None:
        flagged = [c.name for c in review.checks if c.verdict != "pass"]
        bits.append("the automated model review passed every check" if not flagged else
                    f"the automated model review {'failed' if review.verdict == 'fail' else 'flags'} "
                    f"{len(flagged)} check{'s' if len(flagged) > 1 else ''} ({', '.join(flagged)}; see the banner)")
    elif diag is not None:
        bits.append(f"sampler {diag.health.upper()}")
    if oos is not None:
        s = oos.summary
        bad = sum(f.converged is False for f in oos.folds)
        notes = ([f"mean over {len(oos.folds)} forecast origins"] if len(oos.folds) > 1 else []) + \
            ([f"{bad} of {len(oos.folds)} from refits that did not converge: see the out-of-sample page"] if bad else [])
        folds = f" ({'; '.join(notes)})" if notes else ""
        bits.append(f"on {oos.holdout_weeks} held-out {period}s{folds} the forecast was off by {s.mape:.1%} on average "
                    f"(MAPE) and {s.coverage_94:.0%} of the {period}s fell inside the 94% band")
    if rec is not None and len(rec):
        bits.append(f"{int(rec['covered'].sum())} of {len(rec)} known true parameters recovered inside their 94% HDI")
    text = "; ".join(bits)
    return text[:1].upper() + text[1:] + "." if bits else "No checks ran."


def _scope(diag: Diagnostics | None, review: Review | None, oos: OutOfSample | None, rec) -> str:
    """What the health verdict rests on, and what it does not cover, in words."""
    checked = ["sampler diagnostics (divergences, R-hat, ESS, BFMI)"] if diag else []
    if review is not None:
        checked.append("in-sample model review")
    if oos is not None:
        checked.append(f"holdout forecast (scored, {oos.summary.coverage_94:.0%} of held-out periods in the 94% band)")
    if rec is not None:
        checked.append("recovery of the known true parameters" if len(rec) else
                       "the true contributions (the truth holds no parameters)")
    missing = [name for name, there in (("a holdout forecast", oos is not None),
                                        ("recovery of known parameters (no truth)", rec is not None)) if not there]
    text = "Checked: " + "; ".join(checked) + "." if checked else ""
    return text + (" Not checked: " + "; ".join(missing) + "." if missing else "")


def _banner(diag: Diagnostics | None, review: Review | None, quick: bool = False
            ) -> tuple[str, str, list[tuple[str, str]]]:
    health = diag.health if diag else "unknown"
    if review is not None and review.verdict == "fail":
        health = "red"
    elif review is not None and review.verdict == "review" and health == "green":
        health = "amber"
    if quick and health == "green":
        health = "amber"
    head = {"green": "the sampler converged and the in-sample checks passed; quote numbers with their intervals.",
            "amber": "read the flagged checks before quoting numbers.",
            "red": "do not quote these numbers until the failed checks are fixed.",
            "unknown": "No fit in this report."}[health]
    items = [(c.name, f"{plain_number(c.value) if c.value is not None else ''} (wanted {c.threshold})"
                      f"{': ' + c.detail if c.detail else ''}. What to do: {c.action}")
             for c in (review.checks if review else []) if c.verdict != "pass"]
    if quick and diag:
        items.insert(0, ("--quick run", f"{diag.chains} chains × {diag.draws} draws: a fast look, never a report to "
                                        "quote. What to do: run without --quick."))
    if not items and diag and diag.health != "green":
        items.append(("sampler", f"max R-hat {plain_number(diag.rhat_max)}, min bulk ESS "
                                 f"{plain_number(diag.ess_bulk_min)}, {diag.divergences} divergences. "
                                 f"{diag.divergence_summary}"))
    return health, head, items


def since_last_report(run_dir: Path, period: str) -> str:
    """A refresh in one paragraph: what the data changed, how the last report's forecast of the new periods fared, and
    whether an estimate moved beyond its interval ("" when this report replaced none whose data differed)."""
    diff = DataDiff.load_or_none(run_dir)
    if diff is None or not diff.changed:
        return ""
    words = [f"The last report's data: {diff.previous}. Now {diff.changes()}."]
    if diff.n_revised:
        words.append("Revised history is named on the data page.")
    b = Backtest.load_or_none(run_dir)
    if b is not None:
        words.append(f"The last report's forecast of the new {period}s expected {b.forecast_total:,.0f}; "
                     f"{b.actual_total:,.0f} happened ({b.coverage_94:.0%} of the new values inside its 94% band).")
    history = roas_history(run_dir)
    if history is not None:
        words.append(moved_sentence(history))
    return " ".join(words)


def executive_summary(run_dir: Path, params: Params, quick: bool = False) -> Summary:
    """The index page's content, from the artifacts in ``run_dir``; a ``quick`` run is never green."""
    diag, review = Diagnostics.load_or_none(run_dir), Review.load_or_none(run_dir)
    oos, alloc, rec = OutOfSample.load_or_none(run_dir), Allocation.load_or_none(run_dir), load_recovery(run_dir)
    target, cur = params.report.target_label, params.report.currency
    cur = f"{cur} " if cur else ""
    health, head, items = _banner(diag, review, quick)
    scope = _scope(diag, review, oos, rec)
    if diag:
        head = f"{head} {scope}"
    points = []
    span, period = _data_period(run_dir, params.report.period)
    if span:
        points.append(("Data", span))
    drivers = load_table(run_dir, "drivers")
    if drivers is not None:
        points.append(("What drove " + target, _drivers(drivers, target, period)))
    evidence = load_table(run_dir, "roas_prior_posterior")
    stability = Stability.load_or_none(run_dir)
    unstable_roas, unstable_plan = stability.unstable() if stability is not None else ([], [])
    channels = channels_sentence(load_table(run_dir, "contributions"), load_table(run_dir, "roas"), target, cur.strip(), period,
                         uninformed_channels(evidence), unstable_roas)
    if channels and evidence is not None and not evidence["informed"].astype(bool).all():
        channels += " " + prior_dominated_sentence(evidence)
    if channels:
        points.append(("Channels", channels))
    if alloc is not None and alloc.initial.gain is not None:
        robust = load_table(run_dir, "plan_under_variants")  # the plan under every model variant of the case
        points.append(("Recommendation", _plan(alloc, target, cur, period, unstable_plan)
                       + (" " + robustness_sentence(robust) if robust is not None and len(robust) > 1 else "")))
    exercise = params.report.exercise is not None  # the points that rest on the truth wait for the answer's reveal
    reveal: list[tuple[str, str]] = []
    judged = load_table(run_dir, "truth_check")
    if judged is not None:
        (reveal if exercise else points).append(("Judged by the truth", truth_sentence(judged, target)))
    if exercise and rec is not None and len(rec):
        reveal.append(("Recovery", f"{int(rec['covered'].sum())} of {len(rec)} known true parameters inside their 94% "
                                   "HDI (the recovery page)"))
    parts, per_period = load_table(run_dir, "forecast_parts"), load_table(run_dir, "forecast")
    if parts is not None and per_period is not None:
        points.append(("Forecast", _forecast(parts, per_period, params, target, period)))
    tests = load_table(run_dir, "next_test")
    if tests is not None and len(tests):
        points.append(("Next experiment", next_test_sentence(tests, target, period)))
    if stability is not None:
        points.append(("Stability", stability_sentence(stability)))
    refreshed = since_last_report(run_dir, period)
    if refreshed:
        points.append(("Since the last report", refreshed))
    points.append(("Checks", _checks(diag, review, oos, None if exercise else rec, period)))
    details = []
    if diag:
        details.append(("Sampling", f"{diag.sampler}, {diag.chains} chains × {diag.draws} draws; compile "
                                    f"{diag.compile_seconds:.1f} s, sampling {diag.sampling_seconds:.1f} s; "
                                    f"max R-hat {plain_number(diag.rhat_max)}, min bulk ESS "
                                    f"{plain_number(diag.ess_bulk_min)}, {diag.divergences} divergences"))
    return Summary(health=health, banner=head, banner_items=items, points=points, details=details, reveal=reveal)


def write_index(run_dir: Path, params: Params, manifest: Manifest) -> None:
    """``index.html``: the executive summary, the banner, links to every page (from the jinja2 template)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE.parent), autoescape=True)
    pages = [(s, t, (run_dir / f"{s}.html").exists()) for s, t in PAGES.items()]
    html = env.get_template(TEMPLATE.name).render(
        params=params, manifest=manifest, summary=executive_summary(run_dir, params, manifest.quick), pages=pages,
        color=HEALTH_COLORS, changes=(run_dir / "changes.html").exists())
    (run_dir / "index.html").write_text(html)
