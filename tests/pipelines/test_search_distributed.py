"""The search data-parallel: two gloo processes compute what one process computes."""

import functools
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from tests.conftest import free_port, synthetic_table
from tfnas_kedro.artifacts import SearchTarget
from tfnas_kedro.nas import load_search_spaces
from tfnas_kedro.nas.supernet import derive_architecture
from tfnas_kedro.params import SearchParams
from tfnas_kedro.pipelines.search.nodes import run_search

CLASSES = 4
# A small space: with millions of units, a few activations sit within float rounding of a ReLU's
# kink and flip when sums are taken in another order, and the runs drift apart by more than float
# tolerance within a few steps whatever is synchronised (also one process on 1 vs 2 threads).
SPACES = {
    "tiny": {
        "resolution": 32, "in_channels": 3,
        "stem": {"out": 8, "kernel": 3, "stride": 2, "act": "relu"},
        "fixed_blocks": [{"kernel": 3, "mid": 8, "se": 0, "out": 8, "stride": 1, "act": "relu"}],
        "stages": [
            {"out": 12, "stride": 2, "act": "relu", "min_depth": 1, "max_depth": 2},
            {"out": 16, "stride": 2, "act": "swish", "min_depth": 1, "max_depth": 2},
        ],
        "ops": {
            "k3_e3": {"kernel": 3, "width": {"min": 2, "max": 4, "init": 3}, "se": 0},
            "k3_e6": {"kernel": 3, "width": {"min": 4, "max": 8, "init": 6}, "se": 0},
            "k5_e3_se": {"kernel": 5, "width": {"min": 2, "max": 4, "init": 3}, "se": 1},
            "k5_e6_se": {"kernel": 5, "width": {"min": 4, "max": 8, "init": 6}, "se": 2},
        },
        "head": {"out": 32, "act": "swish"},
    }
}  # fmt: skip


def _colour_split(root) -> pd.DataFrame:
    """Noisy images whose class sets their colour; 32 weight, 11 architecture, 10 validation images
    (the last architecture batch of 3 splits 2/1 over two processes, the last validation batch 1/1)."""
    rng = np.random.default_rng(0)
    rows = []
    for split, count in (("weights", 32), ("arch", 11), ("val", 10)):
        for i in range(count):
            label = i % CLASSES
            pixels = rng.normal(60 + 40 * label, 40, (40, 40, 3)).clip(0, 255).astype(np.uint8)
            path = root / split / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(path)
            rows.append({"path": str(path), "class_index": label, "split": split})
    return pd.DataFrame(rows)


@functools.cache
def _table():
    """One table for every run: a checkpoint names the table it was searched on (its creation time too)."""
    return synthetic_table(load_search_spaces(SPACES)["tiny"], resolution=32, num_classes=CLASSES, step=4)


def _search(tmp_path, name: str, epochs: int = 3, **distributed):
    """The search node on the colour images, in one process or (``distributed``) several."""
    space, table = load_search_spaces(SPACES)["tiny"], _table()
    low, high = table.reachable_range(space)
    search = {
        "search_space": "tiny", "input_size": 32, "batch_size": 8, "epochs": epochs, "warmup_epochs": 1,
        "in_memory": True, "device": "cpu", "arch_lr": 0.2, "tau": 1.0, "latency_lambda": 2.0,
        "latency_feedback": True, "seed": 3, "checkpoint_dir": str(tmp_path / name), "measure_latency": False,
    }  # fmt: skip
    if distributed:
        search["distributed"] = {"rdzv_endpoint": f"localhost:{free_port()}", **distributed}
    split = _colour_split(tmp_path / "images")
    target = SearchTarget(
        target_ms=low + 0.5 * (high - low), reachable_ms=(low, high), space="tiny", device="cpu", device_name="test",
        runtime="torch",
    )  # fmt: skip
    state, history = run_search(split, table, target, search, SPACES)
    return space, state, history


# two processes that take a core each; run alone, the one-process search keeps the machine's thread
# count, with which the sums agree to 1e-4 here (with one thread they come out in another order
# and move alpha by up to 0.002 after three epochs)
@pytest.mark.slow
@pytest.mark.serial
def test_two_gloo_processes_search_as_one_process_does(tmp_path):
    """Same global batches, paths, statistics and averaged gradients: after the warm-up and two
    search epochs, alpha, beta, every weight and the derived architecture agree up to the order of
    floating-point sums. (Without synchronised BatchNorm or averaged gradients they do not: each
    process would normalise and step on its half of the batch.)"""
    space, one, one_history = _search(tmp_path, "one")
    _, two, two_history = _search(tmp_path, "two", nproc_per_node=2, backend="gloo")
    assert one["epoch"] == two["epoch"] == 3
    for a, b in zip(one["alpha"] + one["beta"], two["alpha"] + two["beta"], strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    # the weights stay in the resume checkpoint the result names (rank 0 wrote it after the last epoch)
    one_weights, two_weights = (torch.load(s["checkpoint"], weights_only=True)["supernet"] for s in (one, two))
    for name, weight in one_weights.items():
        if weight.is_floating_point():
            torch.testing.assert_close(two_weights[name], weight, rtol=1e-4, atol=1e-5, msg=name)
        else:  # the channels each op keeps after elasticity-scaling
            assert torch.equal(two_weights[name], weight), name
    assert one["widths"] == two["widths"] and one["loss_target_ms"] == pytest.approx(two["loss_target_ms"], rel=1e-5)
    derived = [derive_architecture(space, s["alpha"], s["beta"], s["widths"], CLASSES) for s in (one, two)]
    assert derived[0] == derived[1]
    assert two_history["derived_ms"].tolist() == one_history["derived_ms"].tolist()
    assert (
        two_history["val_top1"].tolist() == one_history["val_top1"].tolist()
    )  # 10 images, the last 2 one on each process
    np.testing.assert_allclose(two_history["weight_loss"], one_history["weight_loss"], rtol=1e-4)
    np.testing.assert_allclose(two_history["arch_ce"][1:], one_history["arch_ce"][1:], rtol=1e-4)
    assert len(list((tmp_path / "two").glob("*/last.pt"))) == 1  # rank 0 alone wrote it


@pytest.mark.slow
@pytest.mark.serial  # two processes that take a core each
def test_a_search_resumes_with_another_number_of_processes(tmp_path):
    """A checkpoint does not depend on the world size: two processes continue one process's search.
    The launch leaves nothing in the system's temporary folder."""
    before = set(Path(tempfile.gettempdir()).iterdir())
    _, one, _ = _search(tmp_path, "run")
    _, resumed, history = _search(tmp_path, "run", epochs=4, nproc_per_node=2, backend="gloo")
    assert one["epoch"] == 3 and resumed["epoch"] == 4 and history["epoch"].tolist() == [0, 1, 2, 3]
    assert history["seconds"].tolist()[:3] == [row["seconds"] for row in one["history"]]  # resumed, not rerun
    left = {p.name for p in set(Path(tempfile.gettempdir()).iterdir()) - before}
    assert not {n for n in left if n.startswith(("torchelastic_", "tfnas-launch-"))}, left


def test_a_batch_that_does_not_split_over_the_processes_is_a_clear_error():
    with pytest.raises(ValueError, match="batch_size 10 is not divisible by the 4 processes"):
        SearchParams(batch_size=10, distributed={"nproc_per_node": 4})
