"""unlearn: can this data be removed from a trained model?

The public Python API (unlearn/api.py, docs/api.md), imported on first use so that `import unlearn`
stays light:

    unlearn.unlearn(model, tokenizer, forget_texts, retain_texts, method="npo", **params) -> model
    unlearn.evaluate(models, corpus_or_texts, reference=[...]) -> {"models", "reference", "verdict", ...}
"""
__all__ = ["evaluate", "unlearn"]


def __getattr__(name: str):
    if name in __all__:
        from unlearn import api

        return getattr(api, name)
    raise AttributeError(f"module 'unlearn' has no attribute {name!r}")
