"""Model-centric optimization for ``select`` and ``search`` (``ratchet.steps.select`` / ``.search``).

``halving`` is the successive halving over backbones; ``space``, ``pruning``, ``objective`` and
``study`` make up the Optuna search; ``worker`` runs trials in the run and in ``ratchet worker``.
Each trial's fine-tune is ``ratchet.finetuning``'s, shared with every other model-centric step.
"""
