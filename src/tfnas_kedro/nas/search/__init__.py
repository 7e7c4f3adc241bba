"""The TF-NAS search loop: alternating weight and architecture steps, elasticity-scaling per epoch,
checkpoints after every epoch, and resume.

Every epoch starts from RNG states derived from the seed and the epoch number, so a search that
is killed and resumed from its last checkpoint replays the interrupted epoch exactly and ends with
the same architecture as one that never stopped.
"""

from ..errors import SearchError
from .checkpointer import SearchCheckpointer, load_supernet, subnet_weights
from .config import (
    ADDED_LATER,
    AFTER_WARMUP,
    CHECKPOINT_FORMAT,
    RANDOM_PATHS,
    RANDOM_PATHS_SEED,
    RESUMABLE,
    SearchConfig,
    SearchIdentity,
)
from .learning import LearningStatus, describe_learning, learning_status
from .loop import SearchLoop
from .searcher import Searcher
from .setup import SearchSetup
from .state import SearchState
from .stepper import SearchSteps
from .steps import backward_architecture, backward_paths, frozen

__all__ = [
    "ADDED_LATER",
    "AFTER_WARMUP",
    "CHECKPOINT_FORMAT",
    "LearningStatus",
    "RANDOM_PATHS",
    "RANDOM_PATHS_SEED",
    "RESUMABLE",
    "SearchCheckpointer",
    "SearchConfig",
    "SearchError",
    "SearchIdentity",
    "SearchLoop",
    "SearchSetup",
    "SearchState",
    "SearchSteps",
    "Searcher",
    "backward_architecture",
    "backward_paths",
    "describe_learning",
    "frozen",
    "learning_status",
    "load_supernet",
    "subnet_weights",
]
