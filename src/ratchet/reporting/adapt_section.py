"""Report section for the adapt step: corpus, vocabulary extension, LM loss curve and the ratchet decision.

Everything comes from the step's manifest (``metrics`` as written by ``steps/adapt.py``) and
its ledger entry; a run without an adapt step, or one skipped before pretraining, shows
what it has (a skip reason at least).
"""

from __future__ import annotations

from typing import Any

from ratchet.reporting.html import Safe, key_values, num, section, table, tag
from ratchet.reporting.rundata import RunFiles
from ratchet.reporting.svg import Series, line_chart


def adapt_section(run: RunFiles) -> Safe | None:
    parts: list[Any] = []
    decisions = {entry.get("step"): entry for entry in run.ledger}
    for folder, manifest in run.steps_named("adapt"):
        metrics = manifest.get("metrics") or {}
        parts.append(tag("h3", folder.name))
        decision = decisions.get("adapt") or {}
        parts.append(_decision(manifest, decision, metrics))
        corpus = metrics.get("corpus") or {}
        if corpus:
            parts.append(key_values(sorted(corpus.items()), id="adapt-corpus", caption="Pretraining corpus"))
        coverage = _coverage_table(metrics)
        if coverage is not None:
            parts.append(coverage)
        pretrain = metrics.get("pretrain") or {}
        curve = [p for p in pretrain.get("loss_curve") or [] if isinstance(p, dict) and "loss" in p]
        if curve:
            parts.append(
                line_chart(
                    [Series("training loss", [float(p["step"]) for p in curve], [float(p["loss"]) for p in curve])],
                    title=f"{pretrain.get('objective', 'LM')} loss",
                    x_label="step",
                    y_label="loss",
                    id="adapt-loss",
                )
            )
        if pretrain:
            facts = [
                ("objective", pretrain.get("objective")),
                ("steps", f"{pretrain.get('steps')} of {pretrain.get('total_steps')}"),
                ("held-out loss before", num(pretrain.get("heldout_loss_before"))),
                ("held-out loss after", num(pretrain.get("heldout_loss_after"))),
                ("real tokens/s", num(pretrain.get("tokens_per_s"), 0)),
                ("stopped by the time budget", pretrain.get("stopped_by_deadline")),
            ]
            parts.append(key_values(facts, id="adapt-pretrain", caption="Continued pretraining"))
    if not parts:
        return None
    return section("adapt", "Domain adaptation", *parts)


def _decision(manifest: dict[str, Any], decision: dict[str, Any], metrics: dict[str, Any]) -> Safe:
    status = str(decision.get("status") or manifest.get("status") or "")
    probe = metrics.get("probe") or {}
    adapted, original = probe.get("adapted") or {}, probe.get("original") or {}
    facts = [
        ("decision", status),
        ("reason", decision.get("reason") or decision.get("note") or ""),
        ("probe fine-tune epochs", probe.get("epochs")),
        ("validation score, original backbone", num(original.get("valid_macro_f1"))),
        ("validation score, adapted backbone", num(adapted.get("valid_macro_f1"))),
        ("gain", num(decision.get("gain"), signed=True)),
        ("P(better)", num(decision.get("p_better"), 3)),
    ]
    return key_values([(k, v) for k, v in facts if v not in (None, "")], id="adapt-decision", caption="Decision")


def _coverage_table(metrics: dict[str, Any]) -> Safe | None:
    before, after = metrics.get("coverage_before") or {}, metrics.get("coverage_after") or {}
    if not before:
        return None
    vocab = metrics.get("vocab") or {}
    keys = ("coverage", "unk_share", "pieces_per_unit", "distinct_uncovered")
    rows = [[key, num(before.get(key)), num(after.get(key))] for key in keys]
    caption = f"Tokenizer coverage ({vocab.get('tokens_added', 0)} tokens added{_starts(vocab)})"
    examples = vocab.get("examples") or []
    if examples:
        caption += ": " + " ".join(str(token) for token in examples[:20]) + (" …" if len(examples) > 20 else "")
    return table(["", "before", "after"], rows, numeric=[1, 2], id="adapt-coverage", caption=caption)


def _starts(vocab: dict[str, Any]) -> str:
    """How the new embedding rows were initialized, for the coverage caption ("" for older manifests)."""
    if not vocab.get("tokens_added") or "from_pieces" not in vocab:
        return ""
    parts = [f"{vocab['from_pieces']} from their old pieces"]
    if vocab.get("from_cooccurrence"):
        anchors = vocab.get("cooccurrence_anchors")
        how = f"mapped from {anchors} old tokens" if anchors else "on the principal axes"
        parts.append(f"{vocab['from_cooccurrence']} by corpus co-occurrence ({how})")
    parts.append(f"{vocab.get('sampled', 0)} drawn at random")
    return "; started " + ", ".join(parts)
