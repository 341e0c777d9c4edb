"""Why a model decides: word attributions (Integrated Gradients, exact linear contributions, occlusion),
their faithfulness, and the report's global view. ``ratchet explain``, ``predict --explain`` and
``ratchet.load(RUN).explain(texts)`` all go through ``Explainer``."""
