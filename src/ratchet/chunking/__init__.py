"""Long documents: overlapping token windows for training, window logits pooled per document at inference.

``windows`` cuts each document (and its text pair) into windows of at most max_length tokens that
together cover every token; ``aggregate`` pools the windows' predictions into one per document;
``data`` turns a step's train/valid rows into window rows for the ordinary fine-tune; ``predict``
applies a shipped model's windowing to new texts. The ``chunk`` step (ratchet.steps.chunk) judges it.
"""
