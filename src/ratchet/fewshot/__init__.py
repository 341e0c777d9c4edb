"""Few-shot (SetFit-style) fits: contrastive fine-tuning of a sentence encoder on generated same-class /
different-class pairs, then a logistic-regression head on its mean-pooled embeddings, written into the
Linear layer of ratchet's mean-pooling classifier so the result ships as an ordinary model folder."""
