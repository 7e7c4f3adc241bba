"""What one node hands another, typed: each is saved by the catalog as readable JSON
(:class:`~tfnas_kedro.datasets.ModelJSONDataset`) and read back as itself, so a consumer reads
fields a type checker and a reader can follow, not keys of a dict."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tfnas_kedro.nas.search.learning import LearningStatus
from tfnas_kedro.nas.table_meta import SessionFidelity, Timed

__all__ = ["SessionFidelity", "Timed"]  # made by nas.calibration.check_in_session; read in node outputs


class Artifact(BaseModel):
    """A node's output: validated when made and when read back; unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SearchTarget(Artifact):
    """The latency target of one search, resolved on its table before any training
    (``resolve_search_target``): in ms, with what was asked and what the space can reach there."""

    target_ms: float = Field(gt=0)
    requested_ms: float | None = None  # ``target.latency_ms`` when given
    fraction: float | None = None  # ``target.fraction`` of the reachable range, when that was given instead
    reachable_ms: tuple[float, float]  # the space's fastest and slowest networks on the table
    space: str
    device: str  # the table's device, runtime and the device's name: where the target holds
    device_name: str
    runtime: str


class SearchSummary(Timed):
    """What ``derive_searched_architecture`` says of the architecture it derived (docs/search.md):
    its latency on the table against the target, the search's own result before any fallback,
    whether the supernet learned, its cost and path; where it was timed (``search.measure_latency``),
    what it measured there (:class:`Timed`). Fields added since a summary was written read as None."""

    name: str
    target_ms: float
    table_ms: float
    gap: float  # relative distance below the target (negative: above it)
    target_met: bool
    own_ms: float | None = None  # the search's own architecture (argmax ops and depths, scaled widths)
    own_gap: float | None = None
    supernet: LearningStatus | None = None
    macs_m: float
    params_m: float
    blocks: int
    device: str
    device_name: str
    reachable_ms: tuple[float, float]
    epochs: int
    init: str = "scratch"  # where the supernet's weights started
    start_random_paths_top1: float | None = None  # a warm start's random paths before any step
    subnet: dict[str, Any] | None = None  # the path through the supernet (Subnet.as_dict)
    elasticity_message: str | None = None
    fallback_changes: list[str] = []
    fallback_count: int = 0


class TrainingMetrics(Timed):
    """What ``summarise_training`` says of a retrained network: validation scores, cost, whether
    the run diverged, its latency on the table and, where it was timed (``train.measure_latency``),
    what it measured (:class:`Timed`); the export checks of what ships (ONNX, ExecuTorch)."""

    name: str
    epochs: int
    init: str = "scratch"  # inherit: from the supernet's weights
    top1: float
    top5: float
    val_loss: float
    weights: str = "model"  # model or ema: which weights were scored
    params_m: float
    macs_m: float
    resolution: int
    num_classes: int
    train_seconds: float
    onnx: dict[str, Any] | None = None  # the ONNX export's check, where it was exported
    executorch: dict[str, Any] | None = None  # the ExecuTorch program's check, where it ships as one
    divergence: str | None = None  # why the run counts as diverged (its top-1 then says more about the recipe)
    diverged: bool = False
    table_ms: float | None = None  # None where the table cannot price it (``table_note`` says why)
    table_note: str | None = None


class TestMetrics(Artifact):
    """The trained network scored once on the held-out test split (``evaluate_on_test``): top-1
    with its 95% Wilson interval, and the per-image record that paired comparisons between networks
    are computed from (0/1 in the split's order). Without a test split: ``top1`` None, ``note`` why."""

    __test__ = False  # not a pytest test class, whatever its name

    name: str | None = None
    top1: float | None = None
    top1_low: float | None = None
    top1_high: float | None = None
    correct: int = 0
    images: int = 0
    weights: str = "model"
    correct_per_image: list[int] = []
    note: str | None = None


class TransferMetrics(Artifact):
    """A network fine-tuned on one transfer set (``summarise_transfer``): top-1/top-5 on the set's
    test split, what was trained and on how many images."""

    dataset: str
    model: str
    top1: float
    top5: float
    epochs: int
    input_size: int
    trainable: str
    train_images: int
    test_images: int
    train_seconds: float
    data: str  # demo or the real set


class Candidate(Artifact):
    """One candidate of a target in the search-quality study (``pick_candidates``), priced on the
    target's table: the searched architecture, a random one scaled to its latency, or the closest
    published model."""

    key: str  # ``searched``, ``random_<i>`` or ``zoo``: the namespace of its retraining
    name: str
    kind: Literal["searched", "random", "zoo"]
    index: int | None = None  # a random candidate's number
    table_ms: float
    architecture: dict[str, Any]  # its description (ArchDescription, as JSON)
    subnet: dict[str, Any] | None = None  # its path in the supernet (Subnet.as_dict); None: no path of it
    draws: int | None = None  # random draws it took (rejected ones included); 1 for the searched one

    def runs(self, searched_seeds: int, random_seeds: int = 1) -> list[tuple[str, int]]:
        """Its retrainings: (namespace, offset of the training seed) (:func:`candidate_runs`)."""
        return candidate_runs(self.kind, self.key, searched_seeds, random_seeds)


def candidate_runs(kind: str, key: str, searched_seeds: int, random_seeds: int = 1) -> list[tuple[str, int]]:
    """The retrainings of a study's candidate: (namespace, offset of the training seed). The searched
    architecture is retrained once per seed (``searched_seed<k>``), a random one once (``random_<i>``)
    or, with ``random_seeds`` > 1, once per seed (``random_<i>_seed<k>``), the published model once."""
    if kind == "searched":
        return [(f"searched_seed{s}", s) for s in range(searched_seeds)]
    if kind == "random" and random_seeds > 1:
        return [(f"{key}_seed{s}", s) for s in range(random_seeds)]
    return [(key, 0)]


class Candidates(Artifact):
    """A target's candidates, in the order searched, random ones, published model."""

    candidates: list[Candidate]

    def of_kind(self, kind: str) -> list[Candidate]:
        return [c for c in self.candidates if c.kind == kind]

    def by_key(self, key: str) -> Candidate:
        return next(c for c in self.candidates if c.key == key)


class SupernetScore(Artifact):
    """A candidate scored through the trained supernet on the test split (its path's weights,
    BatchNorm recalibrated): top-1 and the per-image record (0/1 in the split's order); and top-1
    after its path was fine-tuned for ``tuned_epochs`` epochs (None when the study did not)."""

    top1: float
    correct_per_image: list[int]
    tuned_top1: float | None = None
    tuned_epochs: int = 0


class SupernetScores(Artifact):
    """``score_through_supernet``'s scores by candidate key (the published model has none: no path)."""

    scores: dict[str, SupernetScore]

    def top1(self, key: str) -> float | None:
        score = self.scores.get(key)
        return None if score is None else score.top1

    def tuned_top1(self, key: str) -> float | None:
        score = self.scores.get(key)
        return None if score is None else score.tuned_top1
