"""Training: data folders, likelihood pretraining, end-to-end fine-tuning, the loop."""

from flowrestore.training.finetune import FinetuneConfig, finetune
from flowrestore.training.loop import LoopConfig, LoopResult, TrainingError
from flowrestore.training.pretrain import PretrainConfig, pretrain

__all__ = ["FinetuneConfig", "LoopConfig", "LoopResult", "PretrainConfig", "TrainingError", "finetune", "pretrain"]
