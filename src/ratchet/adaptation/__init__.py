"""Domain adaptation of a backbone before fine-tuning: corpus, vocabulary extension, continued pretraining.

``corpus`` builds the text the model keeps pretraining on (test text removed),
``vocab`` adds the tokens the tokenizer is missing, ``mlm`` runs the masked or
causal language-modelling loop. The gated step lives in ``ratchet.steps.adapt``.
"""

from ratchet.adaptation.corpus import AdaptCorpus, build_corpus, minhash_signature, split_heldout
from ratchet.adaptation.mlm import PretrainResult, choose_objective, load_lm, pretrain
from ratchet.adaptation.vocab import Coverage, extend_vocabulary, measure_coverage, plan_extension

__all__ = [
    "AdaptCorpus",
    "Coverage",
    "PretrainResult",
    "build_corpus",
    "choose_objective",
    "extend_vocabulary",
    "load_lm",
    "measure_coverage",
    "minhash_signature",
    "plan_extension",
    "pretrain",
    "split_heldout",
]
