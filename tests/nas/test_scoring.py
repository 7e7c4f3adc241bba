import numpy as np
import torch
from torch import nn

from tfnas_kedro.nas.scoring import correct_per_image, recalibrate_batchnorm


def _stale_model() -> nn.Module:
    """Class = whether u > 0 for inputs (u + 10, -u): right only once BatchNorm has subtracted the
    inputs' mean; with fresh (stale) statistics every input is called class 0."""
    model = nn.Sequential(nn.BatchNorm1d(2), nn.Linear(2, 2), nn.Dropout(0.9))
    with torch.no_grad():
        model[1].weight.copy_(torch.eye(2))
        model[1].bias.zero_()
    return model


def _batches(n=400, batch=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(n, generator=g)
    x, y = torch.stack([u + 10, -u], 1), (u <= 0).long()
    return [(x[i : i + batch], y[i : i + batch]) for i in range(0, n, batch)]


def test_recalibrated_batchnorm_turns_a_stale_score_into_the_true_one():
    model, data = _stale_model(), _batches()
    before = correct_per_image(model, data).mean()
    used = recalibrate_batchnorm(model, _batches(seed=1), images=500)
    after = correct_per_image(model, data).mean()
    assert before < 0.6 and after > 0.95
    assert used >= 500  # the batches were run through more than once to reach 500 images
    assert not model.training and model[0].momentum == 0.1  # left in eval mode, momentum restored


def test_correct_per_image_keeps_the_images_order():
    model, data = _stale_model(), _batches(n=10, batch=4)
    recalibrate_batchnorm(model, _batches(), images=400)
    hits = correct_per_image(model, data)
    assert hits.shape == (10,) and hits.dtype == np.bool_
    expected = np.concatenate([(model(x).argmax(1) == y).numpy() for x, y in data])
    assert (hits == expected).all()
