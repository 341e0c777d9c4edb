"""The report's data section: what was read, what cleaning changed, how the data was split and what the model sees.

``data_report.json`` grows as analyses are added, so known sections get a
tailored table and every other key is rendered generically (data_tables.generic):
nothing is lost, nothing new breaks the report, and nothing is shown as a raw dump.
"""

from __future__ import annotations

import itertools
from typing import Any

from ratchet.reporting.bars import column_chart, hbar_chart
from ratchet.reporting.data_tables import TEXT_CHARS, counts_table, facts, generic, name, percent, share_of
from ratchet.reporting.html import Safe, note, plain, section, shortened, table, tag
from ratchet.reporting.rundata import RunFiles

CLEANING = (
    ("rows", "rows"),
    ("repairs", "repaired"),
    ("duplicates", "duplicates"),
    ("conflicts", "label conflicts"),
    ("test_overlap_removed", "removed as copies of test texts"),
)
CLEANING_NAMES = {
    "duplicates": {"rows": "repeated rows"},
    "conflicts": {"groups": "texts with conflicting labels", "dropped": "ties dropped"},
}
MEASURES = {"chars": "characters", "words": "words", "tokens": "tokens", "pair_chars": "characters (second text)",
            "pair_words": "words (second text)"}  # fmt: skip
LANGUAGES = {"en": "English", "es": "Spanish", "fr": "French", "de": "German", "pt": "Portuguese", "it": "Italian",
             "nl": "Dutch", "unknown": "not recognized"}  # fmt: skip
NEAR_NAMES = {"groups": "near-duplicate groups", "rows": "rows in those groups"}
HISTOGRAM_TITLES = {"lengths tokens histogram": "tokens per text"}
TAILORED = {"version", "classes", "lengths", "columns", "warnings", "splits", "split", "test", "near_duplicates",
            "coverage", "languages", *(k for k, _ in CLEANING)}  # fmt: skip
"""Top-level keys with their own view below; any other key is rendered generically."""


def find_histograms(value: Any, path: str = "") -> list[tuple[str, list[Any], list[float]]]:
    """(name, bin names, counts) for every {"counts": [...], "edges"|"bins": [...]} found in the report."""
    found = []
    if isinstance(value, dict):
        counts = value.get("counts")
        edges = value.get("edges", value.get("bins"))
        if isinstance(counts, list) and isinstance(edges, list) and all(isinstance(c, (int, float)) for c in counts):
            if len(edges) == len(counts) + 1:
                names = [f"{plain(lo)}-{plain(hi)}" for lo, hi in itertools.pairwise(edges)]
                found.append((path or "histogram", names, counts))
            elif len(edges) == len(counts):
                found.append((path or "histogram", [str(e) for e in edges], counts))
        for key, item in value.items():
            found += find_histograms(item, f"{path} {key}".strip())
    return found


def data_section(run: RunFiles) -> Safe | None:
    report = run.data_report
    if not report:
        return None
    parts: list[Any] = []
    warnings = report.get("warnings")
    if isinstance(warnings, list) and warnings:
        parts.append(tag("ul", *(tag("li", w) for w in warnings), class_="warnings"))
    for view in (_cleaning, _classes, _splits, _lengths):
        parts += view(report)
    found = find_histograms(report)  # length histograms, mostly: drawn under the length table
    histograms = []
    for path, names, counts in found[:6]:
        title = HISTOGRAM_TITLES.get(path, name(path))
        histograms.append(column_chart(names, counts, title=title, x_label=title, y_label="rows"))
    if histograms:
        parts.append(tag("div", *histograms, class_="charts"))
    for view in (_columns, _test_file, _near_duplicates, _coverage, _languages):
        parts += view(report)
    drawn = {path for path, _, _ in found}
    for key, value in report.items():
        if key not in TAILORED and key not in drawn:
            parts += [tag("h3", name(key)), generic(value)]
    return section("data", "Data", *parts, intro="What was read, what cleaning changed, and how the data was split.")


def _cleaning(report: dict[str, Any]) -> list[Any]:
    rows_read = report["rows"].get("in") if isinstance(report.get("rows"), dict) else None
    rows = []
    for key, title in CLEANING:
        block = report.get(key)
        if not isinstance(block, dict):
            continue
        items = [(k, v) for k, v in block.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        names = CLEANING_NAMES.get(key, {})
        for i, (k, v) in enumerate(items):
            share = "" if (key, k) == ("rows", "in") else share_of(v, rows_read)
            rows.append([tag("b", title) if i == 0 else "", names.get(k, name(k)), plain(v), share])
    if not rows:
        return []
    headers = ["stage", "what", "rows", "share of rows read"]
    return [
        tag("h3", "What cleaning changed"),
        table(headers, rows, numeric=[2, 3], id="data-cleaning", class_="grouped"),
    ]


def _classes(report: dict[str, Any]) -> list[Any]:
    classes = report.get("classes")
    counts = classes.get("counts") if isinstance(classes, dict) else None
    if not isinstance(counts, dict) or not counts:
        return []
    names = [str(k) for k in counts]
    values = [float(v) if isinstance(v, (int, float)) else 0.0 for v in counts.values()]
    chart = hbar_chart(names, values, title="rows per class after cleaning", value_label="rows", id="class-balance")
    test = report.get("test") if isinstance(report.get("test"), dict) else {}
    test_counts = test.get("classes") if isinstance(test.get("classes"), dict) else {}
    total, test_total = sum(values), sum(v for v in test_counts.values() if isinstance(v, (int, float)))
    headers = ["class", "rows", "share"] + (["test rows", "test share"] if test_counts else [])
    rows = []
    for label, count in counts.items():
        row = [str(label), plain(count), share_of(count, total)]
        if test_counts:
            row += [plain(test_counts.get(label, 0)), share_of(test_counts.get(label, 0), test_total)]
        rows.append(row)
    parts: list[Any] = [
        tag("h3", "Class balance"),
        tag("div", chart, table(headers, rows, numeric=range(1, len(headers)), id="data-classes"), class_="charts"),
    ]
    if classes.get("imbalance"):
        parts.append(note(f"Largest class / smallest class: {plain(classes['imbalance'])}×."))
    return parts


def _splits(report: dict[str, Any]) -> list[Any]:
    splits, how = report.get("splits"), report.get("split")
    if not isinstance(splits, dict) or not splits:
        return []
    parts = [tag("h3", "Splits"), counts_table(splits, first="split", id="data-splits", names={"valid": "validation"})]
    if isinstance(how, dict) and how:
        source = {"file": "the --test file", "split": "held out from the data"}.get(how.get("test_source"))
        pairs = [(k, source if k == "test_source" and source else v) for k, v in how.items() if v is not None]
        parts.append(facts(pairs, headers=("setting", "value"), id="data-split-settings"))
    judging = report.get("judging")
    if isinstance(judging, dict) and judging.get("mode") == "crossfit":
        parts.append(note(
            f"Judged out of fold: the {judging.get('judged_rows')} train+validation rows fall into "
            f"{judging.get('folds')} stratified folds (near-duplicate groups kept together; {judging.get('reason')}), "
            "and every gated step is judged on all of them, so the split above decides no step (the ledger says "
            "which model ships and on which rows it was refit)."
        ))  # fmt: skip
    return parts


def _lengths(report: dict[str, Any]) -> list[Any]:
    lengths = report.get("lengths")
    if not isinstance(lengths, dict):
        return []
    stats = {k: v for k, v in lengths.items() if isinstance(v, dict) and "median" in v}
    parts: list[Any] = []
    if stats:
        keys = ["min", "mean", "median", "p95", "max"]
        rows = [[MEASURES.get(k, name(k)), *(_stat(s.get(key)) for key in keys)] for k, s in stats.items()]
        headers = ["per text", "min", "mean", "median", "95th percentile", "max"]
        parts += [tag("h3", "Lengths"), table(headers, rows, numeric=[1, 2, 3, 4, 5], id="data-lengths")]
    tokens = lengths.get("tokens")
    if isinstance(tokens, dict) and "truncated_rows" in tokens:
        parts.append(
            note(
                f"Tokens as the tokenizer of {tokens.get('model', '?')} counts them "
                f"({plain(tokens.get('rows_sampled', '?'))} rows measured): {plain(tokens['truncated_rows'])} rows "
                f"({percent(float(tokens.get('truncated_share') or 0.0))}) are longer than max_length "
                f"{plain(tokens.get('max_length', '?'))} and get cut." + _chunk_note(tokens)
            )
        )
    elif isinstance(tokens, dict) and tokens.get("skipped"):
        parts.append(note(f"Token lengths: {tokens['skipped']}."))
    return parts


def _chunk_note(tokens: dict[str, Any]) -> str:
    """Whether that share passes chunk.threshold, so that a preset's chunk step trains on windows."""
    chunk = tokens.get("chunk")
    if not isinstance(chunk, dict):
        return ""
    if chunk.get("runs"):
        share = percent(float(chunk["threshold"]))
        return (f" That is more than chunk.threshold ({share}): the chunk step trains on overlapping windows "
                "of every text and is judged against this truncation (see the ledger).")  # fmt: skip
    return f" That is not more than chunk.threshold ({percent(float(chunk['threshold']))}): the chunk step is skipped."


def _stat(value: Any) -> Any:
    return f"{value:,.1f}".removesuffix(".0") if isinstance(value, float) else plain(value)


def _columns(report: dict[str, Any]) -> list[Any]:
    columns = report.get("columns")
    if not isinstance(columns, dict):
        return []
    detected = columns.get("detected") if isinstance(columns.get("detected"), dict) else {}
    roles = {"text": "text", "text_pair": "second text", "label": "label"}
    rows = [
        [roles[role], str(columns[role]), detected.get(role, "set in the configuration")]
        for role in roles
        if columns.get(role) is not None
    ]
    return [tag("h3", "Columns"), table(["role", "column", "chosen because"], rows, id="data-columns")] if rows else []


def _test_file(report: dict[str, Any]) -> list[Any]:
    test = report.get("test")
    if not isinstance(test, dict) or not test:
        return []
    counts = [(k, v) for k, v in test.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    rows_read = test.get("rows_in")
    rows = [[name(k), plain(v), "" if k == "rows_in" else share_of(v, rows_read)] for k, v in counts]
    others = {k: v for k, v in test.items() if k not in dict(counts) and k not in ("classes", "columns")}
    parts = [
        tag("h3", "Test file"),
        note("Cleaned like the training data, never merged with it, then sealed; its classes are in the table above."),
        table(["", "rows", "share of rows read"], rows, numeric=[1, 2], id="data-test-file"),
    ]
    return parts + ([generic(others)] if others else [])


def _near_duplicates(report: dict[str, Any]) -> list[Any]:
    near = report.get("near_duplicates")
    if not isinstance(near, dict) or not near:
        return []
    parts: list[Any] = [tag("h3", "Near-duplicates")]
    if near.get("skipped"):
        return [*parts, note(f"Not searched: {near['skipped']}.")]
    if near.get("method"):
        parts.append(note(f"Found by {near['method']}."))
    pairs: list[tuple[str, Any]] = []
    for key, value in near.items():
        if key in ("method", "examples", "skipped"):
            continue
        if isinstance(value, dict):
            pairs += [(f"{name(key)}: {name(k)}", v) for k, v in value.items()]
        else:
            pairs.append((NEAR_NAMES.get(key, key), value))
    parts.append(facts(pairs, id="data-near-duplicates"))
    examples = [e for e in near.get("examples") or [] if isinstance(e, dict)]
    if examples:
        rows = [
            [
                shortened(e.get("a"), TEXT_CHARS, class_="text"),
                shortened(e.get("b"), TEXT_CHARS, class_="text"),
                plain(e.get("labels", "")),
                plain(e.get("similarity", e.get("sim", ""))),
            ]
            for e in examples
        ]
        headers = ["text", "near-duplicate", "labels", "similarity"]
        caption = "Least similar pairs first: near-copies that are not plain duplicates."
        parts.append(table(headers, rows, numeric=[3], id="near-duplicate-examples", class_="texts", caption=caption))
    return parts


def _coverage(report: dict[str, Any]) -> list[Any]:
    coverage = report.get("coverage")
    if not isinstance(coverage, dict) or not coverage:
        return []
    parts: list[Any] = [tag("h3", "Tokenizer coverage")]
    if coverage.get("skipped"):
        return [*parts, note(f"Not measured: {coverage['skipped']}.")]
    pairs = [(k, v) for k, v in coverage.items() if k != "unknown_examples"]
    unknown = [tag("code", shortened(u, 40)) for u in coverage.get("unknown_examples") or []]
    if unknown:
        pairs.append(("unknown_examples", tag("span", *(s for u in unknown for s in (u, " ")))))
    parts.append(facts(pairs, id="data-coverage"))
    return parts


def _languages(report: dict[str, Any]) -> list[Any]:
    languages = report.get("languages")
    if not isinstance(languages, dict):
        return []
    scripts, latin = languages.get("scripts"), languages.get("latin_languages")
    parts: list[Any] = []
    tables = []
    if isinstance(scripts, dict) and scripts:
        tables.append(counts_table(scripts, first="script", id="data-scripts"))
    if isinstance(latin, dict) and latin:
        tables.append(counts_table(latin, first="language (Latin script)", id="data-languages", names=LANGUAGES))
    if tables:
        parts += [tag("h3", "Scripts and languages"), tag("div", *tables, class_="charts")]
        measured = languages.get("rows_sampled")
        mixed = languages.get("mixed_script_rows")
        if measured is not None or mixed is not None:
            parts.append(note(f"{plain(measured)} rows measured; {plain(mixed or 0)} mix scripts. "
                              "Languages are guessed from stop words."))  # fmt: skip
    return parts
