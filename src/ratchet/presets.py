"""The presets: which steps each runs, in which order, and the preset-dependent counts (trials, seeds).

Pure data, read by the recipe (recipe.py), the step builders (step_builders.py) and the CLI's help.
"""

from __future__ import annotations

PRESET_STEPS: dict[str, tuple[str, ...]] = {
    # fast's select races nothing: it only lets the few-shot candidate face the model on few-shot data.
    "fast": (
        "clean",
        "split",
        "baseline",
        "select",
        "train",
        "chunk",
        "blend",
        "embed",
        "calibrate",
        "decide",
        "evaluate",
        "report",
    ),
    # baseline before relabel: the floor learns from the uncleaned rows, so it does not hang on the
    # cleaning decision. Refit on a kept cleaning (30% of labels flipped, 225 of 509 rows dropped), the
    # TF-IDF floor fell from 0.420 to 0.343 validation macro-F1 while the fine-tune rose 0.408 -> 0.456.
    "balanced": (
        "clean",
        "split",
        "baseline",
        "relabel",
        "select",
        "search",
        "train",
        "chunk",
        "ensemble",
        "compress",
        "blend",
        "embed",
        "calibrate",
        "decide",
        "evaluate",
        "report",
    ),
    # selftrain is not in a preset: on Chinese reviews it moved the sealed test by -0.005 on average over
    # five seeds (+0.020 to -0.028), and the rule on ~200 validation rows kept it where it cost 0.025.
    "best": (
        "clean",
        "split",
        "baseline",
        "relabel",
        "select",
        "adapt",
        "search",
        "train",
        "chunk",
        "ensemble",
        "compress",
        "blend",
        "embed",
        "calibrate",
        "decide",
        "evaluate",
        "report",
    ),
}

PRESET_TRIALS = {"fast": 8, "balanced": 12, "best": 30}
PRESET_SEEDS = {"fast": 3, "balanced": 2, "best": 3}
"""Seeds of the ensemble step (fast: only with --ensemble)."""
PRESET_SEARCHES_SMALL_DATA = {"fast": True, "balanced": False, "best": False}
"""Whether the preset's search runs where judging is cross-fitted (small data). balanced's and best's do not: on
600 labeled rows search was rejected in every measured run (TREC three times, the drug reviews, tweets: gains
-0.169 to 0, at 126-229 s of a 9-13 minute run; the defaults it searches around were chosen on such data), and
best's 30 trials on tweets found nothing better than the configured parameters either (gain 0, 279 s of 778).
Named in --steps, search always runs."""
PRESET_STUDENTS_SMALL_DATA = {"fast": True, "balanced": False, "best": False}
"""Whether the preset's compress distils a student where judging is cross-fitted (small data); its int8 candidate
runs either way. balanced's and best's do not: on 600 labeled rows the student was kept in 1 of 6 measured runs
(tweets seeds 0-2 under balanced and seed 1 under best, TREC twice), and only where it happened to score 0.018
above its teacher, since the non-inferiority test's interval there is about +/-0.03 against a 0.005 margin; the
fold distillations took 40-45% of balanced's wall time (195-298 s). Named in --steps, compress always distils."""
