"""Settings of a training run (defaults: docs/method.md section 9)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TrainConfig(BaseModel):
    """The retraining recipe. ``batch_size`` is global: each of N processes takes ``batch_size / N``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(250, ge=1)
    batch_size: int = Field(512, ge=1)
    lr: float = Field(0.2, gt=0)
    warmup_epochs: float = Field(5.0, ge=0)  # linear warm-up, then cosine to 0 (per step, closed form)
    momentum: float = Field(0.9, ge=0)
    nesterov: bool = False
    weight_decay: float = Field(1e-5, ge=0)
    decay_norm_and_bias: bool = False  # weight decay on BatchNorm and biases too (the paper does not say)
    label_smoothing: float = Field(0.1, ge=0, lt=1)
    dropout: float | None = Field(None, ge=0, lt=1)  # before the classifier; None: the description's
    drop_connect: float = Field(0.2, ge=0, lt=1)  # on residual blocks, growing linearly with depth
    # every residual block starts as the identity (last BatchNorm gamma 0): a deep network then trains
    # like a shallow one at first instead of diverging in its first epochs (docs/training.md, "The demo
    # recipe and deep networks")
    zero_init_residual: bool = True
    # BatchNorm statistics re-estimated on this many training images before every evaluation
    # (0: off). With few steps per epoch the running averages lag behind fast-moving weights, and
    # a sound network scored in eval mode read validation loss 12.5 where its recomputed statistics
    # gave 1.5 (docs/training.md, "The demo recipe and deep networks")
    precise_bn_images: int = Field(0, ge=0)
    grad_clip: float | None = Field(5.0, gt=0)
    amp: Literal["auto", "bf16", "fp16", "off"] = "auto"  # auto: bf16 (fp16 if unsupported) on CUDA, off on CPU
    channels_last: Literal["auto", "on", "off"] = "auto"  # auto: on CUDA only
    ema_decay: float | None = Field(None, gt=0, lt=1)  # exponential moving average of the weights
    sync_batchnorm: bool = True  # with several processes: BatchNorm statistics over the global batch
    workers: int = Field(4, ge=0)  # DataLoader processes per training process
    pin_memory: bool = True  # on CUDA only
    persistent_workers: bool = True  # with workers > 0; augmentations then do not replay on resume
    log_every: int = Field(50, ge=1)  # steps between progress lines when the output is not a terminal
    keep_checkpoints: int = Field(2, ge=1)  # per-epoch checkpoint files kept (besides last.pt)
    seed: int = 0

    def recipe(self) -> TrainConfig:
        """Just the recipe, from a subclass that adds how and where to run it (node parameters)."""
        return TrainConfig(**self.model_dump(include=set(TrainConfig.model_fields)))

    @model_validator(mode="after")
    def _warmup_within_training(self) -> TrainConfig:
        if self.warmup_epochs >= self.epochs:
            raise ValueError(f"warmup_epochs ({self.warmup_epochs}) must be less than epochs ({self.epochs})")
        return self
