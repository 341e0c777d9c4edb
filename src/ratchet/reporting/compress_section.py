"""Report section for the compress step: what each lighter model costs and buys, and the non-inferiority verdict.

Everything comes from the compress entry of the ledger (``compress`` as written by
``steps/compress.py``): the shipped model and each candidate on the same timed texts.
"""

from __future__ import annotations

from typing import Any

from ratchet.reporting.html import Safe, key_values, num, section, table
from ratchet.reporting.rundata import RunFiles


def compress_section(run: RunFiles) -> Safe | None:
    entry = next((e for e in run.ledger if e.get("step") == "compress"), None)
    if entry is None:
        return None
    report: dict[str, Any] = entry.get("compress") or {}
    facts = [
        ("decision", entry.get("status")),
        ("reason", entry.get("reason") or entry.get("note")),
        ("candidate judged", report.get("chosen")),
        ("allowed loss (compress.max_drop)", num(entry.get("margin"))),
        ("P(loss within it)", num(entry.get("p_within"), 3)),
        ("speed compared at", {"batch": "batch of 64 texts", "single": "one text"}.get(report.get("speed_at", ""))),
        ("timed on", _machine(report.get("machine"))),
        ("shipped", entry.get("shipped")),
    ]
    parts: list[Any] = [key_values([(k, v) for k, v in facts if v not in (None, "")], id="compress-decision",
                                   caption="Compression")]  # fmt: skip
    rows = []
    for name in ("reference", "int8", "student"):
        item = report.get(name)
        if not item:
            continue
        speed = item if name == "reference" else item.get("speed") or {}
        label = "shipped model (reference)" if name == "reference" else name
        if name == "student" and item.get("layers"):
            label = f"student ({item['layers']} of {item['teacher_layers']} layers)"
        score = entry.get("reference") if name == "reference" else item.get("judged_score")
        speedup = "1.00x" if name == "reference" else f"{item.get('speedup', 0):.2f}x"
        rows.append([label, num(score), num(speed.get("size_mb"), 1), num(speed.get("p50_ms"), 1),
                     num(speed.get("p95_ms"), 1), num(speed.get("texts_per_s"), 1), speedup])  # fmt: skip
    if rows:
        headers = ["model", f"judged {entry.get('metric', 'score')}", "MB on disk", "p50 ms (1 text)",
                   "p95 ms (1 text)", "texts/s (batch 64)", "speed-up"]  # fmt: skip
        parts.append(table(headers, rows, numeric=[1, 2, 3, 4, 5, 6], id="compress-models",
                           caption="Each model on the same texts and machine"))  # fmt: skip
    return section("compress", "Compression", *parts)


def _machine(machine: dict[str, Any] | None) -> str | None:
    if not machine:
        return None
    return f"{machine.get('cpu')}, {machine.get('cores')} cores, {machine.get('threads')} torch threads"
