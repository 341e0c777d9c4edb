"""Model-centric optimization for ``select`` and ``search`` (``ratchet.steps.select`` / ``.search``).

``finetune`` runs one short fine-tune and releases its memory; ``halving`` is the successive
halving over backbones; ``space``, ``pruning``, ``objective`` and ``study`` make up the Optuna
search; ``worker`` runs trials in the run and in ``ratchet worker``; ``ensemble`` trains the
final configuration with several seeds and judges their averaged probabilities.
"""
