import urllib.error

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from tfnas_kedro.data.loaders import eval_transform
from tfnas_kedro.data.pretrained import imagenet_categories, load_ranker
from tfnas_kedro.data.ranking import score_images


@pytest.fixture(scope="module")
def lite0():
    return load_ranker("efficientnet_lite0").to(torch.device("cpu"))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """The real photographs that ship with scikit-learn: a Chinese temple and a flower."""
    from sklearn.datasets import load_sample_images  # 1.3 s to import: not in every collection

    root = tmp_path_factory.mktemp("photos")
    sample = load_sample_images()
    paths = {}
    for name, pixels in zip(sample.filenames, sample.images, strict=True):
        stem = name.rsplit("/", 1)[-1].split(".")[0]
        paths[stem] = root / f"{stem}.jpg"
        Image.fromarray(pixels).save(paths[stem])
    return paths


def _top5(classifier, path) -> list[str]:
    x = eval_transform(224, classifier.mean, classifier.std)(Image.open(path).convert("RGB")).unsqueeze(0)
    with torch.no_grad():
        logits = classifier.classifier(classifier.features(x))
    return [classifier.categories[i] for i in logits.topk(5).indices[0].tolist()]


def test_offline_ranker_is_really_pretrained(lite0, photos):
    temple = _top5(lite0, photos["china"])
    flower = _top5(lite0, photos["flower"])
    assert {"palace", "monastery", "bell cote", "pagoda", "stupa", "church"} & set(temple[:2]), temple
    assert flower[0] in {"daisy", "sea anemone", "pot", "vase", "hip"}, flower


def test_imagenet_labels_are_scored_by_top1(lite0, photos):
    categories = imagenet_categories()
    palace, daisy = categories.index("palace"), categories.index("daisy")
    images = pd.DataFrame(
        {"split": "train", "label": [str(palace), str(palace)], "path": [str(photos["china"]), str(photos["flower"])]}
    )
    scores = score_images(images, lite0, labels="auto", resolution=224, batch_size=2)
    assert scores["method"].eq("imagenet_top1").all()
    assert scores["imagenet_top1"].tolist()[0] == "palace" and scores["correct"].tolist() == [True, False]
    assert daisy != palace


def test_efficientnet_b0_loads_from_a_local_checkpoint(tmp_path):
    from torchvision.models import efficientnet_b0

    reference = efficientnet_b0(weights=None)
    torch.save(reference.state_dict(), tmp_path / "b0.pth")
    ranker = load_ranker("efficientnet_b0", tmp_path / "b0.pth")
    loaded = dict(ranker.features.body.named_parameters())
    assert all(
        torch.equal(p, loaded[k.removeprefix("features.")])
        for k, p in reference.named_parameters()
        if k.startswith("features.")
    )
    assert torch.equal(ranker.classifier.weight, reference.classifier[1].weight)
    assert ranker.mean == (0.485, 0.456, 0.406)


def test_efficientnet_b0_without_network_says_what_to_do(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(RuntimeError, match="set ranking.checkpoint .* efficientnet_lite0"):
        load_ranker("efficientnet_b0")


def test_unknown_ranker():
    with pytest.raises(ValueError, match="unknown ranking model 'resnet'"):
        load_ranker("resnet")


def test_features_are_1280_wide_and_batched(lite0):
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(3, 3, 96, 96)).astype(np.float32))
    with torch.no_grad():
        assert lite0.features(x).shape == (3, 1280)
