"""build_report without a browser: content, escaping, self-containment and partial runs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from fake_run_folder import EVIL, make_fake_run

from ratchet.cli import main
from ratchet.errors import RatchetError
from ratchet.fsutil import write_json
from ratchet.reporting.html import Safe, esc, tag
from ratchet.reporting.report import build_report


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return make_fake_run(tmp_path / "run")


def section_ids(html: str) -> list[str]:
    return re.findall(r'<section id="([a-z-]+)"', html)


def test_full_report_has_every_section_and_is_self_contained(run: Path) -> None:
    html = build_report(run).read_text()
    assert section_ids(html) == ["ledger", "test", "training", "search", "data", "errors", "steps"]
    for chart in (
        "ledger-waterfall",
        "reliability",
        "roc-curves",
        "search-history",
        "param-importances",
        "class-balance",
    ):
        assert f'id="{chart}"' in html, chart
    # No network: nothing is loaded from anywhere; the only URL is the SVG namespace.
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls == {"http://www.w3.org/2000/svg"}
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=", html)
    assert 'http-equiv="Content-Security-Policy" content="default-src &#x27;none&#x27;;' in html


def test_untrusted_text_is_escaped_everywhere(run: Path) -> None:
    html = build_report(run).read_text()
    assert "<script>document.title" not in html
    assert html.count("<script>") == 1  # ours
    assert "&lt;script&gt;document.title = &quot;pwned&quot;&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html


def test_label_names_and_keys_are_escaped_too(run: Path) -> None:
    evil_label = "<img src=x onerror=alert(1)>"
    labels = json.loads((run / "data" / "labels.json").read_text())
    labels["labels"][0] = evil_label
    write_json(run / "data" / "labels.json", labels)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["test"]["labels"][0] = evil_label
    metrics["test"]["per_class"] = {evil_label: {"precision": 1, "recall": 1, "f1": 1, "support": 3}}
    write_json(run / "metrics.json", metrics)
    report = json.loads((run / "data" / "data_report.json").read_text())
    report["<svg onload=alert(2)>"] = {"x": 1}
    write_json(run / "data" / "data_report.json", report)
    html = build_report(run).read_text()
    assert "<img" not in html and "<svg onload" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_ledger_rows_carry_the_runs_numbers(run: Path) -> None:
    html = build_report(run).read_text()
    table = html[html.index('id="ledger-table"') : html.index("</table>", html.index('id="ledger-table"'))]
    for entry in json.loads((run / "ledger.json").read_text()):
        assert f">{entry['step']}<" in table
        if entry["after"] is not None:
            assert f">{entry['after']:.4f}<" in table
    assert ">-0.0089<" in table and ">[+0.0310, +0.1420]<" in table
    # relabel was judged on its own metric: the table names it, the chart keeps it off the macro-F1 axis.
    assert ">neg_log_loss:<br>-0.9512 -&gt; -0.9601<" in table
    # Accuracy beside the gate metric: the shipped model's before -> after, a rejected candidate's own.
    assert ">0.7123 (candidate 0.6902)<" in table and ">0.7123 -&gt; 0.7356<" in table
    assert "a kept step may cost accuracy" in html
    chart = html[html.index('id="ledger-waterfall"') :]
    bar = re.search(r'<rect[^>]*data-step="relabel"[^>]*>', chart).group(0)
    assert 'data-value="0.6123"' in bar
    # The decision column says why, not the gain and interval again; the whole sentence is on hover.
    reason = re.search(r'<span class="reason" title="([^"]*)">([^<]*)</span>', table)
    assert reason.group(2) == "gain -0.0089 is not above min_gain +0.0000"
    assert reason.group(1).startswith("rejected: gain -0.0089") and "neg_log_loss -0.9512" in reason.group(1)


def test_confident_mistakes_come_from_the_incumbent_when_the_report_step_did_not_run(run: Path) -> None:
    html = build_report(run).read_text()
    assert "Predictions of the train step&#x27;s model on 60 validation rows" in html
    assert 'id="confident-mistakes"' in html


@pytest.mark.parametrize(
    "remove",
    [
        ["metrics.json"],
        ["ledger.json"],
        ["data/data_report.json", "data/label_issues.csv"],
        ["steps"],
        ["data"],
        ["metrics.json", "ledger.json", "steps", "data"],
    ],
)
def test_partial_runs_leave_sections_out_instead_of_crashing(run: Path, remove: list[str]) -> None:
    for name in remove:
        path = run / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    html = build_report(run).read_text()
    ids = section_ids(html)
    if "metrics.json" in remove:
        assert "test" not in ids and "headline-macro-f1" not in html
    if "ledger.json" in remove:
        assert "ledger" not in ids
    if "steps" in remove:
        assert "training" not in ids and "search" not in ids
    if "data" in remove:
        assert "data" not in ids and "errors" not in ids
    if len(remove) == 4:
        assert ids == [] and "This run has no results yet." in html


def test_damaged_files_and_unknown_shapes_are_tolerated(run: Path) -> None:
    (run / "metrics.json").write_text("{ not json")
    write_json(run / "ledger.json", [{"step": "mystery"}, "junk"])
    report = json.loads((run / "data" / "data_report.json").read_text())
    report["classes"] = "unexpected"
    report["new_analysis"] = {"coverage": 0.93, "nested": {"deep": [1, 2, {"x": [3]}]}, "rows": [{"a": 1}, {"b": 2}]}
    write_json(run / "data" / "data_report.json", report)
    html = build_report(run).read_text()
    assert "new analysis" in html and "0.93" in html
    assert ">mystery<" in html


def test_cli_report_command(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(run)]) == 0
    assert capsys.readouterr().out.strip() == str(run / "report.html")
    assert (run / "report.html").is_file()


def test_not_a_run_folder_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(RatchetError, match="not a ratchet run"):
        build_report(tmp_path)
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "run folder not found" in capsys.readouterr().err


def test_html_builder_escapes_unless_safe() -> None:
    assert tag("td", EVIL).startswith("<td>&lt;script&gt;")
    assert tag("a", "x", href='"><script>') == '<a href="&quot;&gt;&lt;script&gt;">x</a>'
    assert tag("p", Safe("<b>ok</b>")) == "<p><b>ok</b></p>"
    assert esc(esc("<")) == "&lt;"  # escaping twice does not double-escape Safe text
    assert (
        tag("rect", class_="a", data_step="s", hidden=True, title=None)
        == '<rect class="a" data-step="s" hidden></rect>'
    )


def test_many_classes_keep_the_report_readable(run: Path) -> None:
    import numpy as np

    from ratchet.evaluation.metrics import classification_metrics

    labels = [f"class {i}" for i in range(12)]
    rng = np.random.default_rng(0)
    y = np.arange(240) % 12
    probs = rng.dirichlet(np.ones(12), 240)
    probs[np.arange(240), y] += 0.5
    metrics = classification_metrics(y, probs / probs.sum(axis=1, keepdims=True), labels, n_bootstrap=50)
    write_json(run / "metrics.json", {"test": metrics})
    html = build_report(run).read_text()
    per_class = html[html.index('id="per-class"') : html.index("</table>", html.index('id="per-class"'))]
    assert per_class.count("<tr>") == 13
    assert f">{metrics['roc_curves']['class 7']['auc']:.4f}<" in per_class
    roc = html[html.index('id="roc-curves"') : html.index("</figure>", html.index('id="roc-curves"'))]
    assert 'class="legend"' not in roc  # 12 curves: colors would repeat, AUCs are in the table
    assert '<div class="scroll"><table id="confusion-matrix"' in html


def test_adapt_step_shows_corpus_coverage_loss_curve_and_decision(run: Path) -> None:
    folder = run / "steps" / "99-adapt"
    folder.mkdir()
    entry = {"step": "adapt", "gated": True, "metric": "macro_f1", "status": "rejected", "gain": -0.0123,
             "p_better": 0.211, "reason": "rejected: gain -0.0123 is not above min_gain"}  # fmt: skip
    metrics = {
        "objective": "mlm",
        "corpus": {"rows": 812, "removed_test": 7, "removed_near_test": 3},
        "coverage_before": {"coverage": 0.277, "unk_share": 0.723, "pieces_per_unit": 1.0, "distinct_uncovered": 2100},
        "coverage_after": {"coverage": 0.982, "unk_share": 0.018, "pieces_per_unit": 1.0, "distinct_uncovered": 90},
        "vocab": {"tokens_added": 2010, "examples": ["好", "<b>"], "from_pieces": 10, "from_cooccurrence": 1900,
                  "cooccurrence_anchors": 685, "sampled": 100},
        "pretrain": {"objective": "mlm", "steps": 40, "total_steps": 40, "heldout_loss_before": 7.5,
                     "heldout_loss_after": 4.25, "loss_curve": [{"step": 10, "loss": 7.0}, {"step": 40, "loss": 4.5}]},
        "probe": {"epochs": 2, "adapted": {"valid_macro_f1": 0.61}, "original": {"valid_macro_f1": 0.6223}},
    }  # fmt: skip
    write_json(folder / "manifest.json", {"step": "adapt", "status": "rejected", "metrics": metrics, "ledger": entry})
    ledger = json.loads((run / "ledger.json").read_text())
    write_json(run / "ledger.json", [*ledger, entry])
    html = build_report(run).read_text()
    assert "adapt" in section_ids(html)
    adapt = html[html.index('<section id="adapt"') :]
    adapt = adapt[: adapt.index("</section>")]
    how = "1900 by corpus co-occurrence (mapped from 685 old tokens)"
    for expected in ("812", "0.2770", "0.9820", "2010 tokens added", how, "4.2500", "0.6223", "-0.0123", "rejected"):
        assert expected in adapt, expected
    assert 'id="adapt-loss"' in adapt and "<b>" not in adapt and "&lt;b&gt;" in adapt
