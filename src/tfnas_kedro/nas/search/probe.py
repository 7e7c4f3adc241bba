"""The new classifier of a warm-started supernet, fitted as a linear probe on the inherited features
before the first weight step (linear probing, then fine-tuning: Kumar et al., ICLR 2022). A random
classifier would score every path at chance at epoch 0 and send its large early gradients back
into the pretrained weights."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..parallel import average_parameters
from ..sampling import path_choice, uniform_path
from .config import RANDOM_PATHS_SEED
from .setup import SearchSetup
from .state import SearchState


def fit_linear_probe(
    features: torch.Tensor, labels: torch.Tensor, num_classes: int, weight_decay: float = 1e-2, steps: int = 100
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression of ``labels`` on ``features`` (L2 ``weight_decay`` on the
    weights), by L-BFGS from zeros: deterministic, and seconds for thousands of images. Returns the
    weight ``(classes, features)`` and bias ``(classes,)``."""
    features = features.float()
    weight = torch.zeros(num_classes, features.shape[1], requires_grad=True)
    bias = torch.zeros(num_classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def loss():
        optimizer.zero_grad()
        value = F.cross_entropy(features @ weight.T + bias, labels) + 0.5 * weight_decay * weight.pow(2).sum()
        value.backward()
        return value

    with torch.enable_grad():
        optimizer.step(loss)
    return weight.detach(), bias.detach()


@torch.no_grad()
def probe_classifier(setup: SearchSetup, state: SearchState, weight_loader) -> None:
    """Fit the supernet's classifier as a linear probe on the features of uniformly drawn paths
    over one pass of ``weight_loader`` (each process fits its share; the classifiers are averaged)."""
    supernet = state.supernet
    generator = torch.Generator().manual_seed(setup.config.seed + RANDOM_PATHS_SEED + 1)
    supernet.eval()  # no dropout; BatchNorm keeps batch statistics
    features, labels = [], []
    for x, y in weight_loader:
        x, y = setup.on_device(x, y)
        choice = path_choice(uniform_path(state.host_alpha, generator), state.alpha, state.beta)
        with setup.autocast():
            features.append(supernet.features(x, choice).float().cpu())
        labels.append(y.cpu())
    weight, bias = fit_linear_probe(torch.cat(features), torch.cat(labels), setup.num_classes)
    classifier = supernet.classifier
    classifier.weight.copy_(weight.to(classifier.weight.device))
    classifier.bias.copy_(bias.to(classifier.bias.device))
    average_parameters(classifier.parameters())
    supernet.train()
