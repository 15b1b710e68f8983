"""Unlearning methods. One module per method; `METHODS` is the registry the config resolves.

The contract: a class with a frozen `Config`, class flags
`kind` ("approximate" | "exact"), `needs_ref` (a frozen copy of the original model),
`needs_retain` (retain batches next to the forget batches) and `trains` (False: the model is
left as it is), an optional `setup(model)` that picks the trainable parameters, and
`loss(model, ref_model, batch) -> (loss, logs)` on `batch = {"forget": ..., "retain": ...}`,
an optional `finish(model, ref_model)` applied in place after training succeeds (a
weight-space step such as task-vector negation), and an optional
`aligned_texts(texts, langs, pii) -> {name: [text per forget text]}` whose splits are batched
row by row with the forget batch (e.g. a refusal version of each forget text), and an optional
`precompute(ref_model, data, batch_size, device) -> {name: RowValues}`, called once before
training with `data` = the forget split and the aligned splits: values of the frozen reference
(e.g. its sequence log-probs), batched row by row with the forget batch like an aligned split.
"""
from unlearn.methods.corpus_deletion import CorpusDeletion
from unlearn.methods.ga import GradientAscent
from unlearn.methods.ga_kl import GAKL
from unlearn.methods.graddiff import GradDiff
from unlearn.methods.idk_dpo import IdkDPO
from unlearn.methods.npo import NPO
from unlearn.methods.retain_ft import RetainFT
from unlearn.methods.rmu import RMU
from unlearn.methods.simnpo import SimNPO
from unlearn.methods.task_vector import TaskVector

METHODS = {
    "corpus_deletion": CorpusDeletion,
    "ga": GradientAscent,
    "graddiff": GradDiff,
    "ga_kl": GAKL,
    "npo": NPO,
    "simnpo": SimNPO,
    "retain_ft": RetainFT,
    "rmu": RMU,
    "task_vector": TaskVector,
    "idk_dpo": IdkDPO,
}
