"""Tiny BERT / GPT-2 / T5 models with a tokenizer trained on the given texts: tests without downloads.

Each family exercises a different code path of the engine: an encoder with [CLS] and
segment ids (BERT), a decoder whose head reads the last non-pad token and that has no pad
token of its own (GPT-2), and an encoder-decoder classified from its EOS state (T5).
"sbert" is the BERT model saved as a sentence-transformers folder (mean pooling), as the
default all-MiniLM-L6-v2 is: ratchet classifies it through its mean-pooling head.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np

Family = Literal["bert", "sbert", "gpt2", "t5"]

# The canonical tiny shape (transformers' BertModelTester): fast on one CPU thread.
HIDDEN, LAYERS, HEADS, INTERMEDIATE, POSITIONS = 32, 2, 2, 64, 512


def build_tiny_model(family: Family, texts: list[str], out_dir: Path, *, vocab_size: int = 300, seed: int = 0) -> Path:
    """Train a tokenizer on ``texts``, randomly initialize a tiny model, save both to ``out_dir``."""
    import torch
    from transformers import PreTrainedTokenizerFast

    from ratchet.models.load import _quiet_transformers

    builders = {"bert": _bert, "sbert": _bert, "gpt2": _gpt2, "t5": _t5}
    if family not in builders:
        raise ValueError(f"unknown tiny model family {family!r}: use bert, sbert, gpt2 or t5")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    backend, special, make_model = builders[family](list(texts), vocab_size)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, **special)
    torch.manual_seed(seed)
    model = make_model(backend.get_vocab_size(), backend)
    with _quiet_transformers():
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
    if family == "sbert":
        _write_sentence_modules(out_dir)
    return out_dir


def _write_sentence_modules(out_dir: Path) -> None:
    """The two files by which sentence-transformers declares "transformer, then mean pooling"."""
    import json

    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    (out_dir / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    (out_dir / "1_Pooling").mkdir(exist_ok=True)
    pooling = {"word_embedding_dimension": HIDDEN, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True}
    (out_dir / "1_Pooling" / "config.json").write_text(json.dumps(pooling), encoding="utf-8")


_FILLER = ("the", "a", "this", "drug", "pill", "dose", "made", "me", "feel", "today", "really", "quite", "very",
           "and", "it", "was", "so", "after", "week")  # fmt: skip
_CUES = ("bad", "good", "okay")


def toy_dataset(n: int, *, seed: int = 0, n_labels: int = 2) -> tuple[list[str], np.ndarray]:
    """A separable toy task for tests: label i <-> the text contains the cue word ``_CUES[i]``.

    Texts have 4-21 words, so length bucketing has something to do.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_labels, size=n)
    texts = []
    for label in labels:
        words = list(rng.choice(_FILLER, size=int(rng.integers(3, 21))))
        words.insert(int(rng.integers(0, len(words) + 1)), _CUES[label])
        texts.append(" ".join(words))
    return texts, labels.astype(np.int64)


def _bert(texts: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertForMaskedLM

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    # Not WordPieceTrainer: it breaks ties between equally frequent merges in hash-map order, which Rust
    # seeds per process, so every process got another vocabulary (and tiny-model tests other numbers).
    tok.model = models.WordPiece(_wordpiece_vocab(tok, texts, specials, vocab_size), unk_token="[UNK]")
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    special = {
        "pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]",
        "model_input_names": ["input_ids", "token_type_ids", "attention_mask"],  # segment ids, as BERT's own
    }  # fmt: skip

    def make(vocab: int, backend) -> BertForMaskedLM:
        config = BertConfig(
            vocab_size=vocab, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
            intermediate_size=INTERMEDIATE, max_position_embeddings=POSITIONS, type_vocab_size=2,
            pad_token_id=backend.token_to_id("[PAD]"),
        )  # fmt: skip
        return BertForMaskedLM(config)

    return tok, special, make


def _wordpiece_vocab(tok, texts: list[str], specials: list[str], vocab_size: int) -> dict[str, int]:
    """A WordPiece vocabulary made the same way in every process: the specials, every character alone and as a
    continuation ("##e"), then the merges byte-pair training makes (the most frequent adjacent pair of pieces,
    ties by spelling, not by hash order) until ``vocab_size``."""
    from collections import Counter

    words: Counter[str] = Counter()
    for text in texts:
        normalized = tok.normalizer.normalize_str(text)
        words.update(word for word, _ in tok.pre_tokenizer.pre_tokenize_str(normalized))
    pieces = {word: [word[0], *(f"##{c}" for c in word[1:])] for word in words}
    chars = sorted({c for word in words for c in word})
    vocab = [*specials, *chars, *(f"##{c}" for c in chars)]
    known = set(vocab)
    while len(vocab) < vocab_size:
        pairs: Counter[tuple[str, str]] = Counter()
        for word, count in words.items():
            for pair in zip(pieces[word], pieces[word][1:], strict=False):
                pairs[pair] += count
        if not pairs:
            break
        (left, right), _ = min(pairs.items(), key=lambda item: (-item[1], item[0]))
        merged = left + right.removeprefix("##")
        for word, split in pieces.items():
            pieces[word] = _merge(split, left, right, merged)
        if merged not in known:
            vocab.append(merged)
            known.add(merged)
    return {piece: i for i, piece in enumerate(vocab)}


def _merge(split: list[str], left: str, right: str, merged: str) -> list[str]:
    """``split`` with every adjacent (left, right) replaced by ``merged``, left to right."""
    out, i = [], 0
    while i < len(split):
        if i + 1 < len(split) and split[i] == left and split[i + 1] == right:
            out.append(merged)
            i += 2
        else:
            out.append(split[i])
            i += 1
    return out


def _gpt2(texts: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import GPT2Config, GPT2LMHeadModel

    eos = "<|endoftext|>"
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    # Byte-level BPE needs its 256-symbol alphabet inside the vocabulary, so floor the size there.
    trainer = trainers.BpeTrainer(
        vocab_size=max(vocab_size, 300),
        special_tokens=[eos],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    special = {"bos_token": eos, "eos_token": eos, "unk_token": eos}

    def make(vocab: int, backend) -> GPT2LMHeadModel:
        eos_id = backend.token_to_id(eos)
        config = GPT2Config(
            vocab_size=vocab, n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS, n_inner=INTERMEDIATE,
            n_positions=POSITIONS, bos_token_id=eos_id, eos_token_id=eos_id,
        )  # fmt: skip
        return GPT2LMHeadModel(config)

    return tok, special, make


def _t5(texts: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import T5Config, T5ForConditionalGeneration

    specials = ["<pad>", "</s>", "<unk>"]  # T5's fixed ids: pad 0 (also decoder start), eos 1, unk 2
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(
        texts,
        trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token="<unk>", show_progress=False),
    )
    # The trainer's pieces are the same in every process; their ids are not (hash-map order), and their scores
    # differ in the last bits (summation order). Rounded scores, the specials first, the rest by score and piece.
    pieces = [(piece, round(score, 6)) for piece, score in json.loads(tok.to_str())["model"]["vocab"]]
    rest = sorted((p for p in pieces if p[0] not in specials), key=lambda p: (-p[1], p[0]))
    ordered = [(piece, 0.0) for piece in specials] + rest
    tok.model = models.Unigram(ordered, unk_id=specials.index("<unk>"))
    # T5ForSequenceClassification pools the hidden state at the (single) EOS of each row.
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))]
    )
    special = {"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>"}

    def make(vocab: int, backend) -> T5ForConditionalGeneration:
        config = T5Config(
            vocab_size=vocab, d_model=HIDDEN, d_kv=HIDDEN // HEADS, d_ff=INTERMEDIATE, num_layers=LAYERS,
            num_decoder_layers=1, num_heads=HEADS, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
        )  # fmt: skip
        return T5ForConditionalGeneration(config)

    return tok, special, make
