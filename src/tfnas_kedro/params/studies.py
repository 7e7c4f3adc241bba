"""``params:studies``: the ``lambda`` and ``sampling`` studies (one search per run) and
``search_quality`` (searched vs random architectures), with the settings each merges for its runs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pydantic import Field

from .base import Params, parse_params


class StudyParams(Params):
    """``params:studies.lambda`` / ``studies.sampling``: each run is ``search`` + ``base`` + the run."""

    title: str = "study"
    base: dict[str, Any] = Field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = Field(min_length=1)


def merge_settings(search: dict, study: dict, run: str) -> dict:
    """``params:search`` updated with the study's ``base`` and the run's overrides; checkpoints in a
    folder of the run's own, so runs differing only in a setting never resume from each other."""
    settings = copy.deepcopy(dict(search))
    settings.update(study.get("base", {}))
    settings.update(study["runs"][run])
    settings["checkpoint_dir"] = str(Path(settings.get("checkpoint_dir", "data/06_models/search_checkpoints")) / run)
    return settings


class SearchQualityParams(Params):
    """``params:studies.search_quality``."""

    title: str = "Searched vs random architectures at equal latency"
    targets: dict[str, dict] = Field(min_length=1)  # name -> {fraction | latency_ms}, as params:target
    search: dict = Field(default_factory=dict)  # params:search overrides for the study's searches
    train: dict = Field(default_factory=dict)  # params:train overrides: one recipe for every candidate
    random_architectures: int = Field(8, ge=2)
    searched_seeds: int = Field(3, ge=1)  # retrainings of the searched architecture (seeds 0, 1, ...)
    # retrainings of each random architecture: their mean is its top-1 in the arms and in Kendall
    # tau, and with 2 or more the seeds' spread is measured on every candidate, not the searched one alone
    random_seeds: int = Field(1, ge=1)
    recalibration_images: int = Field(512, ge=1)  # training images through each subnet before scoring
    # each path also scored after this many epochs of the study's recipe, shortened (0: not)
    tuned_epochs: int = Field(3, ge=0)
    bootstrap_rounds: int = Field(4000, ge=100)
    sparse_tau_threshold: float = Field(0.01, ge=0)  # top-1 closer than this share a rank (sparse tau)
    seed: int = 0

    @property
    def seeds(self) -> int:
        """The most retrainings any candidate has: the training settings' seed offsets 0 .. seeds-1."""
        return max(self.searched_seeds, self.random_seeds)


def search_quality_params(study: dict) -> SearchQualityParams:
    """``params:studies.search_quality``, validated (its nodes and its pipeline read it so)."""
    return parse_params(SearchQualityParams, study, "studies.search_quality")


def study_search_settings(search: dict, study: dict) -> dict:
    """``params:search`` updated with the study's ``search`` (the schedule whose supernet learns),
    checkpoints in a folder of the study's own."""
    settings = {**copy.deepcopy(dict(search)), **copy.deepcopy(search_quality_params(study).search)}
    folder = Path(settings.get("checkpoint_dir", "data/06_models/search_checkpoints"))
    settings["checkpoint_dir"] = str(folder / "search_quality")
    return settings


def study_train_settings(train: dict, study: dict) -> dict:
    """``params:train`` updated with the study's ``train``: every candidate trains the same way."""
    return {**copy.deepcopy(dict(train)), **copy.deepcopy(search_quality_params(study).train)}


class StudiesParams(Params):
    lambda_: StudyParams | None = Field(None, alias="lambda")
    sampling: StudyParams | None = None
    search_quality: SearchQualityParams | None = None
