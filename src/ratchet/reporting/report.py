"""RUN/report.html: one self-contained page built from the run folder's files alone.

No network: styles, the small script and every chart (inline SVG) are in the
file, and a Content-Security-Policy forbids loading anything else. The script
is allowed by its hash only, so even a text that slipped through escaping could
not run (it cannot: every string goes through ``ratchet.reporting.html``).
"""

from __future__ import annotations

import base64
import hashlib
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ratchet.fsutil import write_text
from ratchet.reporting.adapt_section import adapt_section
from ratchet.reporting.assets import CSS, JS
from ratchet.reporting.compress_section import compress_section
from ratchet.reporting.data_section import data_section
from ratchet.reporting.decision_section import decision_section
from ratchet.reporting.errors_section import errors_section, steps_section
from ratchet.reporting.explain_section import explain_section
from ratchet.reporting.html import Safe, interval, join, num, tag
from ratchet.reporting.ledger_section import ledger_section
from ratchet.reporting.multilabel_section import is_multilabel, multilabel_test_section
from ratchet.reporting.rundata import RunFiles, load_run
from ratchet.reporting.sections import search_section, test_section, training_section
from ratchet.reporting.selftrain_section import selftrain_section

REPORT_NAME = "report.html"
TOC = (
    ("ledger", "Ledger"),
    ("test", "Sealed test"),
    ("training", "Training"),
    ("search", "Search"),
    ("adapt", "Adaptation"),
    ("selftrain", "Self-training"),
    ("compress", "Compression"),
    ("decisions", "Calibration"),
    ("data", "Data"),
    ("errors", "Error analysis"),
    ("why", "Why the model decides"),
    ("steps", "Step details"),
)


def build_report(run_dir: str | Path) -> Path:
    """Write RUN/report.html (atomically) and return its path; works on partial runs."""
    run = load_run(run_dir)
    out = run.run_dir / REPORT_NAME
    write_text(out, render(run))
    return out


def render(run: RunFiles) -> str:
    if is_multilabel(run):
        return _render(run, multilabel_sections(run))
    return _render(run, single_label_sections(run))


def multilabel_sections(run: RunFiles) -> dict[str, Any]:
    """A multi-label run: the sections that read label sets (the explanations score each label on its own
    sigmoid); the error analysis reads one class per row, so it is left out (the report's steps section still
    lists every step)."""
    return {
        "ledger": ledger_section(run), "test": multilabel_test_section(run), "training": training_section(run),
        "search": None, "adapt": None, "selftrain": None, "compress": None, "decisions": None,
        "data": data_section(run), "errors": None, "why": explain_section(run), "steps": steps_section(run),
    }  # fmt: skip


def single_label_sections(run: RunFiles) -> dict[str, Any]:
    return {
        "ledger": ledger_section(run),
        "test": test_section(run),
        "training": training_section(run),
        "search": search_section(run),
        "adapt": adapt_section(run),
        "selftrain": selftrain_section(run),
        "compress": compress_section(run),
        "decisions": decision_section(run),
        "data": data_section(run),
        "errors": errors_section(run),
        "why": explain_section(run),
        "steps": steps_section(run),
    }


def _render(run: RunFiles, sections: dict[str, Any]) -> str:
    present = [(anchor, title) for anchor, title in TOC if sections[anchor] is not None]
    nav = tag("nav", *(tag("a", title, href=f"#{anchor}") for anchor, title in present), class_="toc")
    body = join(
        [
            _header(run),
            nav if present else None,
            tag(
                "main",
                _cards(run),
                *(sections[anchor] for anchor, _ in present),
                None if present else tag("p", "This run has no results yet.", class_="note"),
            ),
            tag("footer", f"ratchet {_version()} · built {time.strftime('%Y-%m-%d %H:%M:%S')}"),
        ]
    )
    script_hash = base64.b64encode(hashlib.sha256(JS.encode()).digest()).decode()
    policy = f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-{script_hash}'"
    head = join(
        [
            Safe('<meta charset="utf-8">'),
            tag("meta", http_equiv="Content-Security-Policy", content=policy),
            tag("meta", name="viewport", content="width=device-width, initial-scale=1"),
            tag("title", f"ratchet report: {run.run_dir.resolve().name}"),
            Safe(f"<style>{CSS}</style>"),
        ]
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>{head}</head>\n<body>{body}<script>{JS}</script></body>\n</html>\n'
    )


def _header(run: RunFiles) -> Safe:
    config = run.config
    facts = []
    if config.get("data"):
        facts.append(join(["data ", tag("code", Path(str(config["data"])).name)]))
    if config.get("test"):
        facts.append(join(["test ", tag("code", Path(str(config["test"])).name)]))
    if config.get("steps") or config.get("preset"):
        facts.append(f"preset {config.get('preset', '?')}" if not config.get("steps") else "custom steps")
    models = config.get("models")
    if isinstance(models, list) and models:
        facts.append(join(["models ", tag("code", ", ".join(str(m) for m in models))]))
    if config.get("seed") is not None:
        facts.append(f"seed {config['seed']}")
    if config.get("budget"):
        facts.append(f"budget {config['budget']}")
    return tag(
        "header",
        tag("h1", f"ratchet report: {run.run_dir.resolve().name}"),
        tag("div", join(facts, " · "), class_="sub"),
        class_="top",
    )


def _card(label: str, value: str, detail: str = "", id: str | None = None) -> Safe:
    return tag(
        "div",
        tag("div", label, class_="k"),
        tag("div", value, class_="v"),
        tag("div", detail, class_="ci") if detail else None,
        class_="card",
        id=id,
    )


def _cards(run: RunFiles) -> Safe | None:
    cards = []
    test = run.test
    ci: dict[str, Any] = test.get("ci") if isinstance(test.get("ci"), dict) else {}
    if "macro_f1" in test:
        cards.append(
            _card(
                "test macro F1", num(test["macro_f1"]), f"95% CI {interval(ci.get('macro_f1'))}", id="headline-macro-f1"
            )
        )
    if "accuracy" in test:
        cards.append(_card("test accuracy", num(test["accuracy"]), f"95% CI {interval(ci.get('accuracy'))}"))
    scored = [e for e in run.ledger if isinstance(e.get("after"), (int, float))]
    if scored:
        first, last = scored[0], scored[-1]
        gain = last["after"] - first["after"]
        detail = f"{num(gain, signed=True)} since {first.get('step', '?')}" if gain else ""
        cards.append(_card(f"validation {run.metric_label}", num(last["after"]), detail))
    if run.ledger:
        seconds = sum(float(e.get("seconds") or 0) for e in run.ledger)
        cards.append(_card("run time", _duration(seconds), f"{len(run.ledger)} steps"))
    return tag("div", *cards, class_="cards") if cards else None


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _version() -> str:
    try:
        return version("ratchet")
    except PackageNotFoundError:
        return "?"
