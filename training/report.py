"""Write an evaluation as one self-contained HTML file: metrics, curves, histogram, worst mistakes.

The charts are inline SVG drawn here, so the report needs no network, no script and no extra
dependency. Every string that comes from data (comment text, ids, names, reason details) is
hostile and goes through `_e` before it reaches the page.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

from spamguard.comment import Comment
from spamguard.policy import DECISIONS, Verdict
from training.evaluate import worst_mistakes

# Curves have as many points as distinct scores; a few hundred draw the same picture.
MAX_CURVE_POINTS = 200
HISTOGRAM_BINS = 40
# Enough of a comment to see why it was misjudged, short enough to keep the report readable.
MAX_SHOWN_CHARS = 600
_W, _H, _PAD = 380, 280, 44
_HAM, _SPAM = "#2b7bb9", "#d0452f"

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.3em .6em;vertical-align:top}
th{background:#f3f3f3;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.charts{display:flex;flex-wrap:wrap;gap:1em}svg{background:#fff;border:1px solid #ddd}
.text{white-space:pre-wrap;word-break:break-word;max-width:520px}ul{margin:0;padding-left:1.1em}
.muted{color:#777}
"""


def _e(value: object) -> str:
    """Escape anything for HTML text or a quoted attribute."""
    return html.escape(str(value), quote=True)


def write_report(path: str | os.PathLike[str], metrics: dict[str, Any], comments: Sequence[Comment],
                 verdicts: Sequence[Verdict]) -> Path:  # fmt: skip
    """Write the HTML report of an evaluation (from `training.evaluate.evaluate`) to `path`."""
    pairs = [(c, v) for c, v in zip(comments, verdicts, strict=True) if c.label is not None]
    labels = np.array([c.label for c, _ in pairs], dtype=np.int64)
    scores = np.array([v.score for _, v in pairs], dtype=np.float64)
    thresholds = metrics["thresholds"]
    body = [
        f"<h1>spamguard evaluation: model {_e(metrics['model_version'])}</h1>",
        _headline(metrics),
        "<h2>Decisions</h2>",
        _matrix(metrics["matrix"]),
        "<h2>Curves and scores</h2>",
        '<div class="charts">',
        *_curves(labels, scores),
        _histogram(labels, scores, thresholds["approve_below"], thresholds["reject_at"]),
        "</div>",
        "<h2>Worst mistakes</h2>",
        _mistakes(worst_mistakes(comments, verdicts)),
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>spamguard evaluation {_e(metrics['model_version'])}</title><style>{_CSS}</style></head>"
        "<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
    out = Path(path)
    out.write_text(page, encoding="utf-8")
    return out


def _num(x: float | None, fmt: str = ".4f") -> str:
    return "n/a" if x is None else format(x, fmt)


def _headline(m: dict[str, Any]) -> str:
    d, t = m["decisions"], m["thresholds"]
    rows = [
        ("comments", f"{m['rows']} ({m['spam']} spam, {m['ham']} ham)"),
        ("ROC AUC", _num(m["roc_auc"])),
        ("MCC at 0.5", _num(m["mcc_at_0.5"])),
        ("F1 at 0.5", f"{_num(m['f1_at_0.5'])} (precision {_num(m['precision_at_0.5'])}, "
                      f"recall {_num(m['recall_at_0.5'])})"),
        ("thresholds", f"approve below {t['approve_below']:.4f}, reject at or above {t['reject_at']:.4f}"),
        ("ham rejected", f"{d['ham_rejected']:.2%}"),
        ("spam approved", f"{d['spam_approved']:.2%}"),
        ("held", f"{d['held']:.2%}"),
    ]  # fmt: skip
    return "<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows) + "</table>"


def _matrix(matrix: dict[str, dict[str, int]]) -> str:
    head = (
        "<tr><th>label \\ decision</th>" + "".join(f"<th>{d}</th>" for d in DECISIONS) + "<th>total</th></tr>"
    )
    rows = []
    for label in ("ham", "spam"):
        counts = [int(matrix.get(label, {}).get(d, 0)) for d in DECISIONS]
        cells = "".join(f'<td class="n">{n}</td>' for n in [*counts, sum(counts)])
        rows.append(f"<tr><th>{label}</th>{cells}</tr>")
    return "<table>" + head + "".join(rows) + "</table>"


def downsample(x: np.ndarray, y: np.ndarray, n: int = MAX_CURVE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Keep at most n points of a curve, evenly spaced along it, first and last included."""
    if len(x) <= n:
        return x, y
    keep = np.unique(np.linspace(0, len(x) - 1, n).round().astype(np.int64))
    return x[keep], y[keep]


def _curves(labels: np.ndarray, scores: np.ndarray) -> list[str]:
    if len(set(labels.tolist())) < 2:
        return ['<p class="muted">Curves need both spam and ham in the data.</p>']
    fpr, tpr, _ = roc_curve(labels, scores)
    precision, recall, _ = precision_recall_curve(labels, scores)
    return [
        _chart("ROC curve", "false positive rate (ham flagged)", "true positive rate (spam caught)",
               [downsample(fpr, tpr)], diagonal=True),
        _chart("Precision / recall", "recall", "precision", [downsample(recall, precision)]),
    ]  # fmt: skip


def _xy(x: float, y: float, ymax: float = 1.0) -> tuple[float, float]:
    """Map data coordinates ([0, 1] × [0, ymax]) to SVG pixels."""
    return _PAD + x * (_W - 1.5 * _PAD), _H - _PAD - (y / ymax) * (_H - 1.7 * _PAD)


def _line(x1: float, y1: float, x2: float, y2: float, style: str) -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" {style}/>'


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{_e(text)}</text>'


def _frame(title: str, xlabel: str, ylabel: str, ymax: float = 1.0, yfmt: str = ".2g") -> list[str]:
    (left, bottom), (right, top) = _xy(0, 0), _xy(1, ymax, ymax)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" role="img" '
        f'aria-label="{_e(title)}" font-size="11">',
        _text(_W / 2, 16, title, "middle", ' font-size="13"'),
    ]
    for i in range(5):
        f = i / 4
        _, y = _xy(0, f * ymax, ymax)
        x, _ = _xy(f, 0)
        parts.append(_line(left, y, right, y, 'stroke="#eee"'))
        parts.append(_text(left - 4, y + 4, format(f * ymax, yfmt), "end"))
        parts.append(_text(x, bottom + 14, f"{f:.2g}", "middle"))
    parts += [
        f'<rect x="{left:.1f}" y="{top:.1f}" width="{right - left:.1f}" height="{bottom - top:.1f}" '
        'fill="none" stroke="#999"/>',
        _text((left + right) / 2, _H - 8, xlabel, "middle"),
        _text(0, 0, ylabel, "middle", f' transform="translate(12 {(top + bottom) / 2:.1f}) rotate(-90)"'),
    ]
    return parts


def _chart(title: str, xlabel: str, ylabel: str, series: list[tuple[np.ndarray, np.ndarray]],
           diagonal: bool = False) -> str:  # fmt: skip
    parts = _frame(title, xlabel, ylabel)
    if diagonal:
        parts.append(_line(*_xy(0, 0), *_xy(1, 1), 'stroke="#bbb" stroke-dasharray="4 3"'))
    for xs, ys in series:
        points = " ".join(
            "{:.1f},{:.1f}".format(*_xy(float(x), float(y))) for x, y in zip(xs, ys, strict=True)
        )
        parts.append(f'<polyline points="{points}" fill="none" stroke="{_SPAM}" stroke-width="2"/>')
    return "".join(parts) + "</svg>"


def _histogram(labels: np.ndarray, scores: np.ndarray, approve_below: float, reject_at: float) -> str:
    edges = np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1)
    shares = {}
    for name, code in (("ham", 0), ("spam", 1)):
        counts, _ = np.histogram(np.clip(scores[labels == code], 0.0, 1.0), bins=edges)
        shares[name] = counts / max(1, counts.sum())
    ymax = max(0.05, float(max(s.max() for s in shares.values())) * 1.1)
    parts = _frame("Scores of ham and spam (share of each class)", "spam score", "share", ymax, ".0%")
    width = (_W - 1.5 * _PAD) / HISTOGRAM_BINS
    _, base = _xy(0, 0)
    for i, (name, color) in enumerate((("ham", _HAM), ("spam", _SPAM))):
        for left, share in zip(edges[:-1], shares[name], strict=True):
            if share > 0:
                x, y = _xy(float(left), float(share), ymax)
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{base - y:.1f}" '
                    f'fill="{color}" fill-opacity="0.55"><title>{name} {left:.3f}: {share:.1%}</title></rect>'
                )
        parts.append(f'<rect x="{6 + 48 * i}" y="{_H - 17}" width="10" height="10" fill="{color}"/>')
        parts.append(_text(19 + 48 * i, _H - 8, name))
    for i, (label, value) in enumerate((("approve <", approve_below), ("reject ≥", reject_at))):
        x, top = _xy(value, ymax, ymax)
        parts.append(_line(x, top, x, base, 'stroke="#333" stroke-dasharray="5 3"'))
        # Label on the side with more room, so a threshold near 1 stays readable.
        side = (x + 3, "start") if value < 0.5 else (x - 3, "end")
        parts.append(_text(side[0], top + 12 + 14 * i, f"{label} {value:.3f}", side[1]))
    return "".join(parts) + "</svg>"


def _mistakes(pairs: list[tuple[Comment, Verdict]]) -> str:
    if not pairs:
        return '<p class="muted">No mistakes at a score of 0.5.</p>'
    rows = [
        "<tr><th>id</th><th>label</th><th>score</th><th>decision</th><th>comment</th><th>reasons</th></tr>"
    ]
    for comment, verdict in pairs:
        text = (
            comment.content
            if len(comment.content) <= MAX_SHOWN_CHARS
            else comment.content[:MAX_SHOWN_CHARS] + "…"
        )
        who = ", ".join(str(v) for v in (comment.author_name, comment.author_email, comment.author_url) if v)
        reasons = "".join(
            f"<li><code>{_e(r.signal)}</code> {r.weight:+.2f} {_e(r.detail)}</li>" for r in verdict.reasons
        )
        rows.append(
            f"<tr><td>{_e(comment.id or '')}</td><td>{'spam' if comment.label else 'ham'}</td>"
            f'<td class="n">{verdict.score:.3f}</td><td>{_e(verdict.decision)}</td>'
            f'<td><div class="text">{_e(text)}</div>'
            + (f'<div class="muted">{_e(who)}</div>' if who else "")
            + f"</td><td><ul>{reasons}</ul></td></tr>"
        )
    return "<table>" + "".join(rows) + "</table>"
