"""The fine-tune service every model-centric step shares (``StepContext.finetune``).

``finetune`` runs one fine-tune of a backbone on a step's ``TaskData`` and releases its memory;
``fitcache`` keeps each fit of the run (probabilities, history, the model where it ships) so that
select, search, train, chunk and the cross-fitted folds never repeat one.
"""
