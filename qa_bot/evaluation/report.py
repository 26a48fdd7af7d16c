"""Eval reports: a terminal table, report.json, a self-contained report.html, a threshold gate."""

from __future__ import annotations

import html
import io
import json
import tomllib
from pathlib import Path
from typing import Any

from rich.table import Table

from qa_bot.errors import QaBotError
from qa_bot.evaluation.harness import CaseResult

Aggregates = dict[str, dict[str, float | None]]
LOWER_IS_BETTER = {"answerable_refused", "p50_ms", "p95_ms"}
NOTES = {
    "judge": "Faithfulness and answer relevancy (RAGAS-style, judged by an LLM) were not "
    "measured: add `--judge local` (needs the local extra). Citation recall/precision above "
    "use the support check.",
}


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.3f}"


def _delta(metric: str, value: float | None, before: float | None) -> tuple[str, str]:
    """The change against the baseline as text, and "better" / "worse" / "" for colour."""
    if value is None or before is None or value == before:
        return "", ""
    better = (value < before) if metric in LOWER_IS_BETTER else (value > before)
    return f"{value - before:+.3f}", "better" if better else "worse"


def terminal_table(aggregates: Aggregates, baseline: Aggregates | None) -> Table:
    """Every aggregate, with its change against the baseline when there is one."""
    table = Table("group", "metric", "value", *(["Δ baseline"] if baseline else []))
    for group, values in aggregates.items():
        for metric, value in values.items():
            row = [group, metric, _fmt(value)]
            if baseline:
                delta, mood = _delta(metric, value, baseline.get(group, {}).get(metric))
                colour = {"better": "green", "worse": "red"}.get(mood, "")
                row.append(f"[{colour}]{delta}[/]" if colour else delta)
            table.add_row(*row)
    return table


def load_thresholds(path: Path, dataset: str) -> dict[str, dict[str, dict[str, float]]]:
    """The ``[DATASET.min.GROUP]`` and ``[DATASET.max.GROUP]`` tables for one dataset (by file
    stem: "default" for default.jsonl); empty when the file has none for it."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise QaBotError(f"Cannot read the thresholds file {path}: {err}.") from err
    return {bound: data.get(dataset, {}).get(bound, {}) for bound in ("min", "max")}


def gate(aggregates: Aggregates, thresholds: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    """One line per aggregate on the wrong side of its threshold (empty: the gate passes)."""
    failures = []
    for bound, groups in thresholds.items():
        for group, limits in groups.items():
            for metric, limit in limits.items():
                value = aggregates.get(group, {}).get(metric)
                if value is None:
                    continue
                if (bound == "min" and value < limit) or (bound == "max" and value > limit):
                    side = "below its minimum" if bound == "min" else "above its maximum"
                    failures.append(f"{group}.{metric} = {_fmt(value)} is {side} {limit}")
    return failures


def _chart(group: str, values: dict[str, float | None], baseline: dict[str, Any] | None) -> str:
    """One metric group as an inline SVG bar chart (baseline bars beside, when given)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [m for m, v in values.items() if v is not None]
    fig, ax = plt.subplots(figsize=(4.2, 2.6))
    xs = range(len(names))
    if baseline:
        before = [baseline.get(m) or 0 for m in names]
        ax.bar([x - 0.2 for x in xs], before, 0.4, color="#bbb", label="baseline")
    ax.bar(
        [x + (0.2 if baseline else 0) for x in xs],
        [values[m] or 0.0 for m in names],
        0.4 if baseline else 0.6,
        color="#3572b0",
        label="this run",
    )
    ax.set_xticks(list(xs), names, fontsize=8)
    ax.set_title(group)
    if group != "latency":
        ax.set_ylim(0, 1)
    if baseline:
        ax.legend(fontsize=7)
    fig.tight_layout()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    plt.close(fig)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


_STYLE = """body{font:14px system-ui,sans-serif;margin:2em;color:#222}
.charts{display:flex;flex-wrap:wrap;gap:1em}.charts div{border:1px solid #ddd;padding:.5em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ddd;padding:4px 8px;
vertical-align:top;text-align:left}.pass{background:#e8f5e9}.fail{background:#ffebee}
.better{color:#1b7f2a;font-weight:bold}.worse{color:#c62828;font-weight:bold}
.quote{color:#555;font-size:12px}"""


def _case_row(result: CaseResult) -> str:
    cites = "<br>".join(
        f"[{c['n']}] {html.escape(c['source'])}: "
        f"<span class=quote>“{html.escape(c['quote'])}”</span>"
        for c in result.citations
    )
    verdict = "pass" if result.passed else "fail"
    return (
        f"<tr class={verdict}><td>{html.escape(result.id)}</td>"
        f"<td>{html.escape(result.question)}</td><td>{html.escape(result.answer)}</td>"
        f"<td>{cites}</td><td>{verdict}</td><td>{html.escape(result.why)}</td></tr>"
    )


def html_report(
    results: list[CaseResult],
    aggregates: Aggregates,
    meta: dict[str, Any],
    baseline: Aggregates | None,
) -> str:
    """A single self-contained page: charts per metric group, aggregates, every case."""
    charts = "".join(
        f"<div>{_chart(group, values, (baseline or {}).get(group))}</div>"
        for group, values in aggregates.items()
        if group != "overall" and any(v is not None for v in values.values())
    )
    rows = []
    for group, values in aggregates.items():
        for metric, value in values.items():
            delta, mood = _delta(metric, value, (baseline or {}).get(group, {}).get(metric))
            rows.append(
                f"<tr><td>{group}</td><td>{metric}</td><td>{_fmt(value)}</td>"
                f"<td class={mood}>{delta}</td></tr>"
            )
    notes = "".join(f"<p>{html.escape(n)}</p>" for n in meta.get("notes", []))
    return f"""<!doctype html><html><head><meta charset=utf-8>
<title>qa-bot eval: {html.escape(meta["dataset"])}</title><style>{_STYLE}</style></head><body>
<h1>qa-bot eval</h1><p>Dataset <code>{html.escape(meta["dataset"])}</code>, corpus
<code>{html.escape(meta["corpus"])}</code>, answerer {html.escape(meta["answerer"])},
{len(results)} cases, {meta["date"]}.</p>{notes}
<div class=charts>{charts}</div>
<h2>Aggregates</h2><table><tr><th>group</th><th>metric</th><th>value</th>
<th>Δ baseline</th></tr>{"".join(rows)}</table>
<h2>Cases</h2><table><tr><th>id</th><th>question</th><th>answer</th><th>citations</th>
<th>result</th><th>why</th></tr>{"".join(_case_row(r) for r in results)}</table>
</body></html>"""


def write_reports(
    out: Path,
    results: list[CaseResult],
    aggregates: Aggregates,
    meta: dict[str, Any],
    baseline: Aggregates | None,
) -> None:
    """report.json (everything) and report.html in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    payload = {"meta": meta, "aggregates": aggregates, "cases": [r.model_dump() for r in results]}
    (out / "report.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    (out / "report.html").write_text(html_report(results, aggregates, meta, baseline))


def load_baseline(path: Path) -> Aggregates:
    """The aggregates of an earlier report.json."""
    try:
        aggregates: Aggregates = json.loads(path.read_text(encoding="utf-8"))["aggregates"]
        return aggregates
    except (OSError, ValueError, KeyError) as err:
        raise QaBotError(f"{path} is not a qa-bot report.json: {err}.") from err
