"""The statistics that tell a search from chance (docs/method.md section 13).

Top-1 on a test set is a proportion, so one model's figure gets a Wilson interval. Two arms (the
searched architecture retrained with several seeds, random architectures of the same latency) are
compared on the same test images: the interval of each arm's mean and of their difference comes
from a bootstrap that resamples both the test images (shared by every model, so the arms stay
paired) and the models within each arm, so it holds the test set's noise and the spread over seeds
and architectures. Kendall tau measures whether the supernet ranks candidates as stand-alone
training does (Yu et al., ICLR 2020), with the sparse variant that counts near-equal accuracies as
ties (Yu, Ranftl and Salzmann 2020).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from itertools import combinations

import numpy as np

Z95 = 1.959963984540054  # the 97.5% quantile of the standard normal


def wilson_interval(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``correct / n`` (95% by default)."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if not 0 <= correct <= n:
        raise ValueError(f"correct must be in [0, {n}], got {correct}")
    p, z2 = correct / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class ArmComparison:
    """Arm ``a`` (e.g. searched) against arm ``b`` (e.g. random): means of top-1, their difference
    ``a - b``, 95% bootstrap intervals, a permutation p-value of the difference, and the share of
    ``b``'s models that ``a``'s mean beats (a tie counts half)."""

    mean_a: float
    low_a: float
    high_a: float
    mean_b: float
    low_b: float
    high_b: float
    difference: float
    difference_low: float
    difference_high: float
    p_value: float
    share_beaten: float
    models_a: int
    models_b: int
    images: int

    @property
    def verdict(self) -> str:
        """``a better`` / ``b better`` only where the difference's interval excludes 0."""
        if self.difference_low > 0:
            return "better"
        if self.difference_high < 0:
            return "worse"
        return "no difference shown"

    def as_dict(self) -> dict:
        return asdict(self) | {"verdict": self.verdict}


def compare_arms(correct_a: np.ndarray, correct_b: np.ndarray, rounds: int = 4000, seed: int = 0) -> ArmComparison:
    """Compare two arms from their per-image correctness on one test set: ``correct_a`` is
    ``models_a x images`` (0/1), ``correct_b`` is ``models_b x images``, the same images in the same
    order. Each bootstrap round draws the images once for both arms (they are paired by image) and
    the models of each arm with replacement."""
    a, b = np.atleast_2d(np.asarray(correct_a, dtype=float)), np.atleast_2d(np.asarray(correct_b, dtype=float))
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"the arms were scored on different image counts: {a.shape[1]} and {b.shape[1]}")
    if not len(a) or not len(b):
        raise ValueError("each arm needs at least one model")
    rng = np.random.default_rng(seed)
    images = a.shape[1]
    # image resampling as multinomial weights: each model's bootstrap top-1 is one matrix product
    weights = rng.multinomial(images, np.full(images, 1.0 / images), size=rounds) / images
    top1_a, top1_b = weights @ a.T, weights @ b.T  # rounds x models
    rows = np.arange(rounds)[:, None]
    mean_a = top1_a[rows, rng.integers(len(a), size=(rounds, len(a)))].mean(1)
    mean_b = top1_b[rows, rng.integers(len(b), size=(rounds, len(b)))].mean(1)
    per_model_a, per_model_b = a.mean(1), b.mean(1)
    point_a, point_b = float(per_model_a.mean()), float(per_model_b.mean())
    beaten = float(np.mean((point_a > per_model_b) + 0.5 * (point_a == per_model_b)))
    return ArmComparison(
        mean_a=point_a,
        low_a=float(np.quantile(mean_a, 0.025)),
        high_a=float(np.quantile(mean_a, 0.975)),
        mean_b=point_b,
        low_b=float(np.quantile(mean_b, 0.025)),
        high_b=float(np.quantile(mean_b, 0.975)),
        difference=point_a - point_b,
        difference_low=float(np.quantile(mean_a - mean_b, 0.025)),
        difference_high=float(np.quantile(mean_a - mean_b, 0.975)),
        p_value=permutation_p_value(per_model_a, per_model_b, seed=seed),
        share_beaten=beaten,
        models_a=len(a),
        models_b=len(b),
        images=images,
    )


def permutation_p_value(a: np.ndarray, b: np.ndarray, rounds: int = 20_000, seed: int = 0) -> float:
    """Two-sided p-value of ``mean(a) - mean(b)`` under exchanged labels: exact over every split of
    the pooled values when there are at most ``rounds`` of them, else from ``rounds`` random ones."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    pooled, k = np.concatenate([a, b]), len(a)
    observed = abs(a.mean() - b.mean())
    total = pooled.sum()
    if math.comb(len(pooled), k) <= rounds:
        sums = np.array([pooled[list(chosen)].sum() for chosen in combinations(range(len(pooled)), k)])
    else:
        rng = np.random.default_rng(seed)
        sums = np.array([pooled[rng.permutation(len(pooled))[:k]].sum() for _ in range(rounds)])
    rest = len(pooled) - k
    differences = np.abs(sums / k - (total - sums) / rest) if rest else np.abs(sums / k)
    return float(np.mean(differences >= observed - 1e-12))


def kendall_tau(x, y, threshold: float = 0.0) -> float:
    """Kendall's tau-b between two scorings of the same items (ties counted as in tau-b). With
    ``threshold`` > 0 the sparse variant: values closer than ``threshold`` count as tied, so
    reorderings within the noise do not count. ``nan`` when either scoring is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) != len(y):
        raise ValueError(f"the scorings have {len(x)} and {len(y)} items")
    i, j = np.triu_indices(len(x), k=1)
    dx, dy = x[i] - x[j], y[i] - y[j]
    sx = np.where(np.abs(dx) <= threshold, 0, np.sign(dx)) if threshold > 0 else np.sign(dx)
    sy = np.where(np.abs(dy) <= threshold, 0, np.sign(dy)) if threshold > 0 else np.sign(dy)
    untied_x, untied_y = np.count_nonzero(sx), np.count_nonzero(sy)
    if not untied_x or not untied_y:
        return float("nan")
    return float((sx * sy).sum() / math.sqrt(untied_x * untied_y))


def kendall_tau_interval(x, y, rounds: int = 4000, seed: int = 0, threshold: float = 0.0) -> tuple[float, float]:
    """A 95% bootstrap interval of :func:`kendall_tau`, resampling the items (pairs of scores)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(rounds):
        chosen = rng.integers(len(x), size=len(x))
        tau = kendall_tau(x[chosen], y[chosen], threshold)
        if not math.isnan(tau):
            values.append(tau)
    if not values:
        return float("nan"), float("nan")
    return float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))


def min_detectable_difference(low: float, high: float, power: float = 0.8, level: float = 0.95) -> float:
    """The smallest true difference a comparison whose ``level`` interval is ``[low, high]`` would
    show with probability ``power`` (normal approximation: its standard error is the interval's
    half-width over z): ``(z_level + z_power) * se``. Read beside "no difference shown": a
    difference smaller than this could be there unseen."""
    from statistics import NormalDist

    z_level, z_power = NormalDist().inv_cdf(0.5 + level / 2), NormalDist().inv_cdf(power)
    return (z_level + z_power) * (high - low) / (2 * z_level)


def tau_noise_ceiling(top1, seed_sd, rounds: int = 2000, seed: int = 0) -> float:
    """The Kendall tau two retrainings of the same candidates would agree to when each retraining
    moves a candidate's top-1 by noise of standard deviation ``seed_sd`` (measured between seeds of
    one architecture; one value, or one per candidate: a mean over k seeds moves by sd / sqrt(k)):
    the mean tau between two noisy copies of ``top1``. No ranking of the candidates can be expected
    to agree with one retraining better than that."""
    top1 = np.asarray(top1, dtype=float)
    sd = np.broadcast_to(np.asarray(seed_sd, dtype=float), top1.shape)
    if not sd.any():  # retrainings agree exactly: tau of the ranking with itself (nan when all tie)
        return kendall_tau(top1, top1)
    rng = np.random.default_rng(seed)
    taus = [
        kendall_tau(top1 + rng.normal(0, 1, top1.shape) * sd, top1 + rng.normal(0, 1, top1.shape) * sd)
        for _ in range(rounds)
    ]
    return float(np.nanmean(taus))


def pooled_seed_sd(top1_by_candidate) -> float | None:
    """The spread between retraining seeds of one architecture, pooled over candidates: the square
    root of their within-candidate variances weighted by degrees of freedom (n - 1). ``None`` when
    no candidate has two retrainings."""
    groups = [np.asarray(g, dtype=float) for g in top1_by_candidate if len(g) >= 2]
    if not groups:
        return None
    squares = sum(float(((g - g.mean()) ** 2).sum()) for g in groups)
    return float(np.sqrt(squares / sum(len(g) - 1 for g in groups)))
