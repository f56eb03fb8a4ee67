"""Tests for training.report: one self-contained HTML file, and no comment text ever left unescaped."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from conftest import DEMO_DATA

from spamguard.comment import Comment
from spamguard.policy import Reason, Verdict
from training.evaluate import evaluate, worst_mistakes
from training.loaders import load_file
from training.report import MAX_CURVE_POINTS, downsample, write_report

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>"\'><svg onload=alert(2)>&amp;'


@pytest.fixture(scope="module")
def evaluation(demo_model, demo_comments):
    """The demo model evaluated on the demo comments it was fitted on, plus held-out ones."""
    seen = {c.id for c in demo_comments}
    unseen = [c for c in load_file(DEMO_DATA) if c.id not in seen][:300]
    comments = demo_comments[::2] + unseen
    metrics, verdicts = evaluate(demo_model, comments)
    return metrics, comments, verdicts


@pytest.fixture
def report(tmp_path, evaluation):
    metrics, comments, verdicts = evaluation
    path = write_report(tmp_path / "report.html", metrics, comments, verdicts)
    return path.read_text(encoding="utf-8")


def svgs(page: str) -> list[ET.Element]:
    """Parse every inline SVG as XML: it must be well-formed to be drawn at all."""
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", page, re.DOTALL)]


def test_report_has_every_section(report, evaluation):
    metrics = evaluation[0]
    for heading in ("Decisions", "Curves and scores", "Worst mistakes"):
        assert f"<h2>{heading}</h2>" in report
    assert f"{metrics['roc_auc']:.4f}" in report
    assert html.escape(metrics["model_version"]) in report
    charts = svgs(report)
    assert [c.get("aria-label") for c in charts] == [
        "ROC curve", "Precision / recall", "Scores of ham and spam (share of each class)",
    ]  # fmt: skip


def test_report_is_self_contained(report):
    assert report.startswith("<!DOCTYPE html>")
    assert not re.search(r"<(script|link|iframe|object|embed|img)\b", report, re.IGNORECASE)
    assert not re.search(r"""\b(src|href)\s*=\s*["']""", report)  # nothing fetched, nothing linked
    assert "url(" not in report and "@import" not in report
    # The only address is the SVG namespace, which is a name, not a fetch.
    addresses = set(re.findall(r'="(https?://[^"]+)"', report))
    assert addresses == {"http://www.w3.org/2000/svg"}


def test_matrix_counts(report, evaluation):
    matrix = evaluation[0]["matrix"]
    for label in ("ham", "spam"):
        row = [matrix[label][d] for d in ("approve", "hold", "reject")]
        cells = "".join(f'<td class="n">{n}</td>' for n in [*row, sum(row)])
        assert f"<tr><th>{label}</th>{cells}</tr>" in report


def test_histogram_draws_both_thresholds(report, evaluation):
    t = evaluation[0]["thresholds"]
    assert f"approve &lt; {t['approve_below']:.3f}" in report
    assert f"reject ≥ {t['reject_at']:.3f}" in report


def test_curves_are_downsampled(report):
    for chart in svgs(report)[:2]:
        (line,) = chart.iter("{http://www.w3.org/2000/svg}polyline")
        points = line.get("points").split()
        assert 2 <= len(points) <= MAX_CURVE_POINTS


def test_downsample_keeps_the_ends():
    x, y = np.arange(1000.0), np.arange(1000.0) * 2
    dx, dy = downsample(x, y)
    assert len(dx) <= MAX_CURVE_POINTS and dx[0] == 0 and dx[-1] == 999
    assert np.array_equal(dy, dx * 2)
    short = np.arange(5.0)
    assert downsample(short, short)[0] is short


def test_worst_mistakes_are_shown_with_text_and_reasons(tmp_path, evaluation):
    metrics, comments, verdicts = evaluation
    missed = Comment("Cheap watches & more at our outlet", id="m1", author_name="Outlet Deals", label=1)
    reasons = [Reason("shape:length", 0.4, "length of the comment"), Reason("text:words", -2.5, "watches")]
    comments, verdicts = [*comments, missed], [*verdicts, Verdict("approve", 0.0001, reasons, "v", "m1")]
    page = write_report(tmp_path / "r.html", metrics, comments, verdicts).read_text()
    worst = worst_mistakes(comments, verdicts)
    assert worst[0][0] is missed
    row = page[page.index("<td>m1</td>") :].split("</tr>")[0]
    assert "Cheap watches &amp; more at our outlet" in row and "Outlet Deals" in row
    assert "<code>shape:length</code> +0.40 length of the comment" in row
    assert "<code>text:words</code> -2.50 watches" in row
    assert row.count("<li>") == 2
    assert all(f"<td>{html.escape(c.id)}</td>" in page for c, _ in worst)
    assert page.count('<div class="text">') == len(worst) <= 10


def test_long_comments_are_cut(tmp_path, evaluation):
    metrics = evaluation[0]
    long = Comment("word " * 1000 + "TAIL", id="long", label=0)
    page = write_report(
        tmp_path / "r.html", metrics, [long], [Verdict("reject", 0.99, [], "v", "long")]
    ).read_text()
    assert "TAIL" not in page and "word word" in page and "…" in page


def test_hostile_text_is_escaped_everywhere(tmp_path, evaluation):
    metrics, comments, verdicts = evaluation
    hostile = [
        Comment(
            XSS, id=XSS, author_name=XSS, author_email="a@example.com", author_url="http://x.example", label=1
        ),
        Comment("ham " + XSS, id="h1", author_name="</td></tr></table><script>", label=0),
    ]
    wrong = [
        Verdict("approve", 0.01, [Reason(XSS, 2.0, XSS), Reason("text:words", -1.0, XSS)], XSS, XSS),
        Verdict("reject", 0.99, [Reason("link:anchor_text", 1.5, XSS)], XSS, "h1"),
    ]
    metrics = {**metrics, "model_version": XSS}
    path = write_report(tmp_path / "r.html", metrics, comments + hostile, verdicts + wrong)
    page = path.read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    assert "<img" not in page.lower() and "<svg onload" not in page.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "&amp;amp;" in page  # entities in data are shown, not decoded
    assert "&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;" in page
    svgs(page)  # still well-formed


def test_one_class_only_still_writes_a_report(tmp_path, demo_model, demo_comments):
    ham = [c for c in demo_comments if c.label == 0][:30]
    metrics, verdicts = evaluate(demo_model, ham)
    page = write_report(tmp_path / "r.html", metrics, ham, verdicts).read_text()
    assert "Curves need both spam and ham" in page
    assert len(svgs(page)) == 1  # the histogram


def test_no_mistakes(tmp_path, evaluation):
    metrics = evaluation[0]
    comments = [Comment("Thanks, this helped.", id="a", label=0), Comment("Buy pills", id="b", label=1)]
    verdicts = [Verdict("approve", 0.1, [], "v", "a"), Verdict("reject", 0.9, [], "v", "b")]
    page = write_report(tmp_path / "r.html", metrics, comments, verdicts).read_text()
    assert "No mistakes at a score of 0.5." in page


def test_unlabelled_comments_are_left_out(tmp_path, evaluation):
    metrics = evaluation[0]
    comments = [
        Comment("no label", id="u"),
        Comment("spam", id="s", label=1),
        Comment("ham", id="h", label=0),
    ]
    verdicts = [Verdict("hold", 0.5, [], "v", c.id) for c in comments]
    page = write_report(tmp_path / "r.html", metrics, comments, verdicts).read_text()
    assert len(svgs(page)) == 3 and "<td>u</td>" not in page
