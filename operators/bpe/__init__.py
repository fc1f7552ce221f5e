"""BPE training engine: an exact fast trainer, a distributed (Ray actors) trainer and HF tokenizer export.

Pipelines call::

    model = train_bpe(sequences_or_tables, BpeTrainerConfig(vocab_size=4096, workers=2))
    save_hf_tokenizer(model, out_dir / "tokenizer")

``reference.train_reference`` is the pure-Python oracle that defines the semantics (ids, tie-break, overlaps);
``fast_trainer.train_fast`` (in-process) and ``distributed_trainer.train_distributed`` (Ray actors) produce
exactly its merges; ``api.train_bpe`` picks one. ``python -m tokenmill.operators.bpe`` builds the optional ahead-of-time
kernel module (no numba/LLVM in the training process; see ``aot``).
"""

from tokenmill.operators.bpe.api import train_bpe
from tokenmill.operators.bpe.distributed_trainer import make_workers, train_distributed
from tokenmill.operators.bpe.export import FORMAT, load_hf_tokenizer, save_hf_tokenizer, to_hf_tokenizer
from tokenmill.operators.bpe.model import BpeModel
from tokenmill.operators.bpe.reference import train_reference
from tokenmill.operators.bpe.trainer_config import BpeTrainerConfig

__all__ = [
    "FORMAT",
    "BpeModel",
    "BpeTrainerConfig",
    "load_hf_tokenizer",
    "make_workers",
    "save_hf_tokenizer",
    "to_hf_tokenizer",
    "train_bpe",
    "train_distributed",
    "train_reference",
]
