"""Whether a finished training run diverged, read from its per-epoch history.

A run that diverged and recovered can still end with a top-1, but that number says more about the
recipe than about the architecture: studies leave such runs out of their means.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

# validation loss above this many times a uniform guess's (ln of the classes): the network is
# confidently wrong, not merely untrained
VAL_LOSS_FACTOR = 3.0


def divergence_reason(history: Sequence[Mapping[str, float]], num_classes: int) -> str | None:
    """Why the run of ``history`` (rows with ``epoch``, ``train_loss``, ``val_loss``) counts as
    diverged, or ``None`` when it does not: its last training loss ends above its first epoch's, or
    its validation loss at some epoch passes ``3 x ln(num_classes)``."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    if not history:
        return None
    reasons = []
    first, last = history[0]["train_loss"], history[-1]["train_loss"]
    if not last <= first:  # NaN counts as diverged
        reasons.append(f"training loss ended at {last:.3f}, above its first epoch's {first:.3f}")
    limit = VAL_LOSS_FACTOR * math.log(num_classes)
    worst = max(history, key=lambda row: _or_inf(row["val_loss"]))
    if not _or_inf(worst["val_loss"]) <= limit:
        reasons.append(
            f"validation loss reached {worst['val_loss']:.3f} after epoch {int(worst['epoch']) + 1}, "
            f"above 3 x ln({num_classes}) = {limit:.3f}"
        )
    return "; ".join(reasons) or None


def _or_inf(value: float) -> float:
    return math.inf if math.isnan(value) else value
