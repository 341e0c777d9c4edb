"""report.html in a real browser (Debian's headless Chromium): renders cleanly, shows the run's numbers."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from fake_run_folder import EVIL, make_fake_run
from headless_chromium import CHROMIUM, open_page, probe_page, table_rows

from ratchet.reporting.report import build_report

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian package `chromium`; .ci/run installs it)"
)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Measures the page as a reader meets it: the section heading's box after following each nav link (and
# after opening the page at a #fragment), and each chart's legend box (getBBox, real text widths)
# against the plot area bounded by the chart's axis lines.
PROBE = """
window.addEventListener("load", function () {
  "use strict";
  var out = { sections: [], legends: [] };
  function heading(id) {
    var box = document.getElementById(id).querySelector("h2").getBoundingClientRect();
    var nav = document.querySelector("nav.toc").getBoundingClientRect();
    var end = document.documentElement.scrollHeight - window.innerHeight;
    return { id: id, top: box.top, navBottom: nav.bottom, scrollY: window.scrollY, atEnd: window.scrollY >= end - 1,
             viewport: window.innerHeight };
  }
  function attr(el, name) { return parseFloat(el.getAttribute(name)); }
  document.querySelectorAll("svg").forEach(function (svg) {
    var legend = svg.querySelector("g.legend");
    var xAxis = svg.querySelector("line.x-axis"), yAxis = svg.querySelector("line.y-axis");
    if (!legend || !xAxis || !yAxis) { return; }
    var box = legend.getBBox();
    out.legends.push({
      chart: svg.getAttribute("aria-label"),
      legend: [box.x, box.y, box.x + box.width, box.y + box.height],
      plot: [attr(yAxis, "x1"), Math.min(attr(yAxis, "y1"), attr(yAxis, "y2")), attr(xAxis, "x2"), attr(xAxis, "y1")],
      size: [svg.viewBox.baseVal.width, svg.viewBox.baseVal.height]
    });
  });
  var links = Array.prototype.slice.call(document.querySelectorAll("nav.toc a"));
  setTimeout(function () {
    if (location.hash) { out.initial = heading(location.hash.slice(1)); }
    var i = 0;
    (function next() {
      if (i >= links.length) {
        var pre = document.createElement("pre");
        pre.id = "probe";
        pre.textContent = JSON.stringify(out);
        document.body.appendChild(pre);
        return;
      }
      var link = links[i++];
      window.scrollTo(0, 0);
      link.click();
      setTimeout(function () { out.sections.push(heading(link.getAttribute("href").slice(1))); next(); }, 50);
    })();
  }, 100);
});
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_report(make_fake_run(tmp_path_factory.mktemp("fake") / "run"))


def test_the_console_check_does_catch_errors(tmp_path: Path) -> None:
    # Guards the guard: a page with a script error must produce console lines, or the next test proves nothing.
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><script>console.error('boom'); missing();</script></body></html>")
    console = open_page(page).console
    assert any("boom" in line for line in console)
    assert any("missing is not defined" in line for line in console)


def test_report_renders_with_no_console_output_and_the_runs_numbers(report: Path) -> None:
    page = open_page(report)
    # The report's script logs nothing: any console line is an error, a CSP violation or a blocked load.
    assert page.console == []
    run = report.parent
    ledger = json.loads((run / "ledger.json").read_text())
    rows, _ = table_rows(page.dom, "ledger-table")
    header, body = rows[0], rows[1:]
    assert [row[0] for row in body] == [entry["step"] for entry in ledger]
    after, status = header.index("after"), header.index("status")
    for row, entry in zip(body, ledger, strict=True):
        assert row[status] == entry["status"]
        assert row[after] == ("" if entry["after"] is None else f"{entry['after']:.4f}")
    relabel = body[[r[0] for r in body].index("relabel")]
    assert relabel[header.index("95% CI of gain")] == "[-0.0410, +0.0220]"

    test = json.loads((run / "metrics.json").read_text())["test"]
    cells, attrs = table_rows(page.dom, "confusion-matrix")
    counts = [[int(a["data-count"]) for a in row if "data-count" in a] for row in attrs[1:]]
    assert counts == test["confusion_matrix"]
    assert cells[0][1:4] == test["labels"]
    metrics, _ = table_rows(page.dom, "test-metrics")
    assert [
        "macro F1",
        f"{test['macro_f1']:.4f}",
        f"[{test['ci']['macro_f1'][0]:.4f}, {test['ci']['macro_f1'][1]:.4f}]",
    ] in metrics

    # The inline script ran (allowed by its CSP hash): it marks sortable headers.
    assert 'aria-sort="none"' in page.dom
    # Untrusted text is shown as text: its script never ran (the title is intact) and it is not an element.
    assert "<title>ratchet report: run</title>" in page.dom
    assert page.dom.count("<script") == 1
    assert '&lt;script&gt;document.title = "pwned"&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;' in page.dom
    mistakes, _ = table_rows(page.dom, "label-issues")
    assert any(EVIL in row for row in mistakes)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_screenshot_is_saved_as_a_test_artifact(report: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report-fake-run.png"
    shot.unlink(missing_ok=True)
    page = open_page(report, screenshot=shot, size="1280,3000")
    assert page.console == []
    assert _png_size(shot) == (1280, 3000)
    assert shot.stat().st_size > 50_000  # a blank or unstyled page compresses to a few KB


@pytest.mark.parametrize("size", ["1280,900", "560,900"])
def test_nav_links_leave_section_headings_below_the_sticky_bar(report: Path, size: str) -> None:
    measured, console = probe_page(report, PROBE, fragment="data", size=size)
    assert console == []
    # Opened at #data (a link from elsewhere), then every nav link clicked in turn (560 px: the bar stays one line).
    visits = [measured["initial"], *measured["sections"]]
    ids = [v["id"] for v in measured["sections"]]
    assert ids == ["ledger", "test", "training", "search", "data", "errors", "steps"]
    for visit in visits:
        assert visit["scrollY"] > 0, visit  # the link did scroll
        assert visit["navBottom"] <= 60, visit  # the bar did not wrap onto several lines
        assert visit["navBottom"] < visit["top"] < visit["viewport"], f"heading hidden under the bar: {visit}"
        if not visit["atEnd"]:  # a section near the page's end cannot scroll to the top: it stays lower
            assert visit["top"] - visit["navBottom"] < 60, f"heading far below the bar: {visit}"


def test_chart_legends_stay_outside_the_plot_area_as_rendered(report: Path) -> None:
    measured, _ = probe_page(report, PROBE)
    charts = {m["chart"] for m in measured["legends"]}
    assert {"loss", "search history", "ROC curves (one-vs-rest, sealed test)"} <= charts
    assert any(chart.startswith("ledger waterfall") for chart in charts)
    for m in measured["legends"]:
        (left, top, right, bottom), (pl, pt, pr, pb), (width, height) = m["legend"], m["plot"], m["size"]
        assert top > pb or bottom < pt or left > pr or right < pl, f"legend over the plot: {m}"
        assert left >= 0 and right <= width and bottom <= height, f"legend cut off: {m}"
