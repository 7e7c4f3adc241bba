"""Calibrating a latency table on whole networks, and checking it against networks it never saw.

Blocks timed one at a time run with hot caches and do not add up to the network they are part of.
:func:`calibrate` fits the base and one scale per feature-map size on networks sampled at random
from the space. :func:`calibrate_and_check` times those samples *and* the held-out networks (published
or searched) in one interleaved session, in a fresh worker process, so that both see the same
machine; the fit uses the samples only, and the held-out networks measure how far the table can
be trusted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .arch import ArchDescription
from .cost import block_params
from .latency import LatencyTable
from .network import build_network
from .profiler import ProfilerSettings, Timing, in_timing_process
from .profilers import make_profiler
from .random_networks import sample_covering
from .space import SearchSpace
from .table_meta import FidelitySummary, HeldOutCheck, NoiseFloor, SessionFidelity, Timed

logger = logging.getLogger(__name__)


def measure_networks(
    archs: list[ArchDescription], settings: ProfilerSettings, reference_ms: float | None = None
) -> list[Timing]:
    """End-to-end latency of each architecture, timed interleaved with the same statistic as blocks;
    pass a table's ``reference_ms`` so the numbers share its unit.

    With ``settings.fresh_process`` (the default) they are timed in a fresh worker process, as a
    deployed model runs, and every such measurement (calibration, fidelity check, the check of a
    searched or trained network) starts from the same state. Why: in a process that had already
    timed networks, weight-heavy networks ran slower at every later session while light ones did
    not. At input 64 in onnxruntime (channel block 4, cold caches) a searched network read -2% to
    -4% against its table in the first session of five processes and -10% to -18% in the third
    session of three; a network whose widths were all 2 channels off the block, at 2.4x the
    latency, stayed within +-5% throughout. In the search pipeline's process, after the table's
    build, its calibration and the search, the searched network had read 1.4-12.6% under the table;
    timed in a fresh process it read -3.4% to +2.8% (drift divided out), within the table's bound
    in 8 of 8 tries."""
    if settings.runtime == "executorch" and archs:
        from .executorch_programs import ProgramCache

        ProgramCache(settings.program_cache).lower_for(
            settings, [build_network(a) for a in archs], [(a.in_channels, a.resolution, a.resolution) for a in archs]
        )
    return in_timing_process(settings, _measure_here, archs, settings, reference_ms) if archs else []


def _measure_here(archs: list[ArchDescription], settings: ProfilerSettings, reference_ms: float | None) -> list[Timing]:
    nets = [build_network(a) for a in archs]
    shapes = [(a.in_channels, a.resolution, a.resolution) for a in archs]
    return make_profiler(settings, reference_ms).time_modules(nets, shapes)


def _time_session(
    archs: list[ArchDescription],
    repeated: list[ArchDescription],
    repeats: int,
    settings: ProfilerSettings,
    reference_ms: float,
) -> tuple[list[Timing], list[float]]:
    """``archs`` timed in one interleaved session, then ``repeated`` timed again ``repeats`` times
    apart: a calibration's measurements, in the process that calls it."""
    timings = _measure_here(archs, settings, reference_ms)
    return timings, [_measure_here(repeated, settings, reference_ms)[0].ms for _ in range(repeats)]


def _design(table: LatencyTable, archs: list[ArchDescription], by_se: bool) -> tuple[list[str], np.ndarray]:
    """Per network: the base, then the raw latency of its blocks summed per calibration scale (one
    column per feature-map size, largest first; with a channel block, per size and whether the
    width is on it: a runtime's blocked layout makes such blocks cheaper in a network; with
    ``by_se``, SE blocks apart)."""
    blocks = [(block, hw) for a in archs for block, hw in zip(a.blocks, a.feature_sizes(), strict=False)]
    keys = {table.scale_key(block, hw, by_se): hw for block, hw in blocks}
    columns = sorted(keys, key=lambda k: (-keys[k], k))
    rows = []
    for a in archs:
        per_key = dict.fromkeys(columns, 0.0)
        for block, hw in zip(a.blocks, a.feature_sizes(), strict=False):
            per_key[table.scale_key(block, hw, by_se)] += table.raw_block_ms(block, hw)
        rows.append([table.meta.base_ms, *per_key.values()])
    return columns, np.asarray(rows)


def _block_mparams(archs: list[ArchDescription]) -> np.ndarray:
    return np.asarray([sum(block_params(b) for b in a.blocks) / 1e6 for a in archs])


def _robust_fit(relative: np.ndarray, prior: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression of ``relative @ coef = 1`` toward ``prior``, reweighted by Tukey's biweight
    on the residuals; the coefficients and each row's final weight."""
    weights = np.ones(len(relative))
    for _ in range(8):
        weighted = relative * weights[:, None]
        lhs = weighted.T @ relative + ridge * np.eye(len(prior))
        coef = np.linalg.solve(lhs, weighted.T @ np.ones(len(relative)) + ridge * prior)
        residual = relative @ coef - 1.0
        cutoff = 4.685 * max(1.4826 * float(np.median(np.abs(residual))), 0.01)
        weights = np.where(np.abs(residual) < cutoff, (1 - (residual / cutoff) ** 2) ** 2, 0.0)
    return coef, weights


# Why one scale per feature-map size: a block timed alone keeps its activations in cache, and how
# much that flatters it depends on how large the activations are; on this project's CPU the
# 112x112 blocks ran at a fraction of their isolated time in a network while the 14x14 ones took
# longer. With a channel block, blocks whose width is on it get scales of their own: the
# runtime's blocked layout reorders tensors around blocks off it, and isolated timing and a
# network need not price that alike. (In onnxruntime at 224 with a block of 4, once every width
# was priced from measured widths of its own kind, the two kinds' scales came out close:
# 1.02-1.21 per size, 2026-11-30; with a block of 16, whose "off" widths are on multiples of 4
# and fast, blocks off it had taken about twice their isolated time.) SE blocks get
# scales of their own (``by_se``): their pooling, two small convolutions and gate are a handful
# of tiny calls whose cost a network and an isolated block do not share alike. In onnxruntime
# at 224 (channel block 4, 80 networks) this took the cross-validated error from 1.8% to 1.4%
# and the held-out signed median from -1.8% to -0.2%; in eager PyTorch at 224 (channel block
# 16, on the same timings of 48 networks spanning the space) the held-out median error from
# 1.3% to 1.0%, and the no-SE models, over-predicted by 1-2% against the SE ones, came level.
# Every scale costs calibration networks: fewer than two per fitted factor is warned about.
#
# Why a term for the weights: a block timed alone, call after call, finds its weights in cache;
# in a network they were last used an inference ago. Where weights outweigh activations (small
# inputs, the last stages) that costs time the scales of isolated timings do not follow, since
# weights and activations grow differently with width. At input 64 in onnxruntime (timed with
# cold caches) a searched network with four 2x2 blocks of width 1116 came out 6.9% under its
# measured latency without the term and 1.9% with it; random held-out networks 3.2% and 2.1%.
#
# The fit is a ridge regression (``ridge``) that shrinks each size's scale toward the
# common scale (the median ratio of the networks), so a size the samples barely vary stays
# sensible, and it is robust: networks timed in a noisy moment get zero weight (Tukey's
# biweight on the residuals).
def calibrate(
    table: LatencyTable,
    archs: list[ArchDescription],
    measured_ms: list[float],
    *,
    ridge: float = 0.01,
    by_se: bool = True,
    weight_fetch: bool = True,
) -> tuple[LatencyTable, pd.DataFrame]:
    """Fit ``measured = base_scale * base + sum_k scale_k * sum(blocks of scale k)
    + ms_per_mparam * (the blocks' parameters, millions)`` on whole networks, minimising relative
    errors; ``k`` is a block's input size (and, with a channel block, whether its width is on it;
    with ``by_se``, whether it has SE: :meth:`LatencyTable.scale_key`); ``weight_fetch`` fits
    the last term (else 0). Why these terms and this fit: the comment above.

    Returns the calibrated table and one row per network: raw and calibrated prediction, measured
    latency, the relative residual (the calibration's own error, reported next to fidelity) and the
    weight the robust fit gave it.
    """
    columns, design = _design(table, archs, by_se)
    raw_predicted = design.sum(1)
    measured = np.asarray(measured_ms, dtype=float)
    common = float(np.median((measured - table.meta.base_ms) / design[:, 1:].sum(1)))
    prior = np.array([1.0] + [common] * len(columns))
    if weight_fetch:  # shrunk toward no cost
        design, prior = np.c_[design, _block_mparams(archs)], np.r_[prior, 0.0]
    if len(archs) < 2 * len(prior):
        logger.warning(
            "calibration: %d networks for %d factors (base, %d scales%s) leaves the fit to the ridge; "
            "set latency.calibration_networks to at least %d",
            len(archs), len(prior), len(columns), ", weights" if weight_fetch else "", 2 * len(prior),
        )  # fmt: skip
    coef, weights = _fit(design / measured[:, None], prior, ridge, weight_fetch)
    predicted = design @ coef
    residual = (predicted - measured) / measured
    calibration = {
        "base_scale": float(coef[0]),
        "scales": {key: float(c) for key, c in zip(columns, coef[1 : 1 + len(columns)], strict=True)},
        "ms_per_mparam": float(coef[-1]) if weight_fetch else 0.0,
        "scale": common,  # for input sizes the samples did not contain
        "by_se": by_se,
        "ridge": ridge,
        "networks": len(archs),
        "outliers": int((weights == 0).sum()),
        "median_abs_residual": float(np.median(np.abs(residual))),
        "max_abs_residual": float(np.max(np.abs(residual))),
        # of the networks the fit kept (nonzero weight): the error of a network timed in a calm moment
        "max_abs_residual_fitted": float(np.max(np.abs(residual[weights > 0]), initial=0.0)),
    }
    report = pd.DataFrame({
        "name": [a.name for a in archs], "raw_predicted_ms": raw_predicted, "predicted_ms": predicted,
        "measured_ms": measured_ms, "relative_error": residual, "fit_weight": weights,
    })  # fmt: skip
    logger.info(
        "calibration on %d networks: base x%.2f, blocks x %s by input size, %.3f ms per million weights; "
        "median |residual| %.1f%%",
        len(archs), coef[0], ", ".join(f"{c:.2f} @{key}" for key, c in calibration["scales"].items()),
        calibration["ms_per_mparam"], 100 * calibration["median_abs_residual"],
    )  # fmt: skip
    return LatencyTable(table.meta.with_changes(calibration=calibration), table.entries), report


def _fit(relative: np.ndarray, prior: np.ndarray, ridge: float, weight_fetch: bool) -> tuple[np.ndarray, np.ndarray]:
    """The robust ridge fit of the factors on the networks' relative design; a negative cost per
    weight is refitted without that term: fetching weights cannot save time, so it fitted noise."""
    coef, weights = _robust_fit(relative, prior, ridge)
    if weight_fetch and coef[-1] < 0:
        coef, weights = _robust_fit(relative[:, :-1], prior[:-1], ridge)
        coef = np.r_[coef, 0.0]
    return coef, weights


def fidelity_table(table: LatencyTable, archs: list[ArchDescription], timings: list[Timing]) -> pd.DataFrame:
    """Predicted vs measured latency per network. ``measured_ms`` shares the table's unit
    (speed-normalised with its reference); ``raw_measured_ms`` is the plain wall-clock statistic."""
    measured = [t.ms for t in timings]
    predicted = [table.predict(a) for a in archs]
    return pd.DataFrame(
        {
            "name": [a.name for a in archs],
            "space": [a.space for a in archs],
            "raw_predicted_ms": [table.predict(a, calibrated=False) for a in archs],
            "predicted_ms": predicted,
            "measured_ms": measured,
            "raw_measured_ms": [t.raw_ms for t in timings],
            "relative_error": relative_errors(predicted, measured),
        }
    )


def calibrate_and_check(
    table: LatencyTable,
    spaces: SearchSpace | Sequence[SearchSpace],
    held_out: list[ArchDescription],
    settings: ProfilerSettings,
    *,
    samples: int,
    seed: int = 0,
    noise_repeats: int = 3,
) -> tuple[LatencyTable, pd.DataFrame, pd.DataFrame, FidelitySummary]:
    """Fit the table on ``samples`` random networks of ``spaces`` (split evenly: give every space the
    table covers) and check it on ``held_out``.

    All networks are timed in one interleaved session (the machine's state is the same for the
    fit and the check). Returns the calibrated table, the calibration report, the fidelity table of
    the held-out networks and a summary with their median and maximum error and the noise floor:
    the spread of the first held-out network's latency as measured in the session and in
    ``noise_repeats`` separate measurements after it. Repeats alone, timed back to back, agree
    more than the machine does over the session: in one onnxruntime run here they spanned 4% while
    the in-session measurement lay 40% above them, so the floor includes it.
    """
    if not held_out:
        raise ValueError("calibrate_and_check needs at least one held-out network")
    m = table.meta
    spaces = [spaces] if isinstance(spaces, SearchSpace) else list(spaces)
    sampled = sample_covering(
        [s.at_resolution(m.resolution) for s in spaces], samples, seed, m.num_classes, m.channel_block
    )
    session = (sampled + held_out, held_out[:1], noise_repeats, settings, table.meta.reference_ms)
    timings, again = in_timing_process(settings, _time_session, *session)  # one worker for all of it
    table, report = calibrate(table, sampled, [t.ms for t in timings[: len(sampled)]])
    fidelity = fidelity_table(table, held_out, timings[len(sampled) :])
    repeats = [float(fidelity["measured_ms"].iloc[0]), *again]
    errors = fidelity["relative_error"].to_numpy()
    check = HeldOutCheck(  # stored with the table: what a network it prices can be held to
        models=len(held_out),
        median_abs_error=float(np.median(np.abs(errors))),
        max_abs_error=float(np.max(np.abs(errors))),
        noise_floor=float((max(repeats) - min(repeats)) / np.median(repeats)),
        archs=held_out,
    )
    calibration = table.meta.calibration.model_copy(update={"held_out": check})
    table = LatencyTable(table.meta.with_changes(calibration=calibration), table.entries)
    summary = fidelity_summary(table, fidelity, held_out[0].name, repeats)
    logger.info(
        "fidelity on %d held-out networks: median |error| %.1f%%, max %.1f%% (noise floor %.1f%%)",
        check.models, 100 * check.median_abs_error, 100 * check.max_abs_error, 100 * check.noise_floor,
    )  # fmt: skip
    return table, report, fidelity, summary


def fidelity_summary(
    table: LatencyTable, fidelity: pd.DataFrame, repeated: str, repeats: list[float]
) -> FidelitySummary:
    """The ``latency_fidelity_summary`` of a checked table: where it was measured, its errors on
    the held-out networks (``fidelity``), the noise floor from the ``repeats`` of network
    ``repeated``, and its calibration."""
    m = table.meta
    check = m.calibration.held_out
    return FidelitySummary(
        device=m.device,
        device_name=m.device_name,
        batch_size=m.batch_size,
        threads=m.threads,
        resolution=m.resolution,
        runtime=m.runtime.name,
        models=check.models,
        median_abs_error=check.median_abs_error,
        max_abs_error=check.max_abs_error,
        uncalibrated_median_error=float(
            np.median(relative_errors(fidelity["raw_predicted_ms"], fidelity["measured_ms"]))
        ),
        noise_floor=NoiseFloor(network=repeated, ms=repeats, spread=check.noise_floor),
        calibration=m.calibration,
        table_build_seconds=m.build_seconds,
    )


def check_against_table(
    table: LatencyTable, archs: list[ArchDescription], anchors: list[ArchDescription], settings: ProfilerSettings
) -> pd.DataFrame:
    """Predicted vs measured latency of ``archs``, timed interleaved with ``anchors`` (the published
    models the table's fidelity was checked on) in one session: the conditions under which the
    table's error was measured. A network timed alone, with the machine to itself, runs hotter in
    cache and can come out 10-15% faster than the same network among others, so a lone timing is
    no fair check; the anchors' errors in the same session show how the session itself went.
    Returns the fidelity table of both, with ``role`` ``checked`` or ``anchor``."""
    timings = measure_networks(archs + anchors, settings, table.meta.reference_ms)
    frame = fidelity_table(table, archs + anchors, timings)
    frame["role"] = ["checked"] * len(archs) + ["anchor"] * len(anchors)
    return frame


def check_in_session(
    table: LatencyTable, arch: ArchDescription, anchors: list[ArchDescription], settings: ProfilerSettings
) -> Timed:
    """``arch``'s latency measured with ``settings``, interleaved with ``anchors`` (the published
    models the table's fidelity was checked on, :func:`check_against_table`): measured ms and its
    error against the table, the anchors' errors in the same session, and the error relative to
    them.

    The relative error divides out how the whole session differs from the table (``session_drift``,
    the anchors' median measured/predicted ratio): on a shared machine the speed drifts by more
    than the table's error between the table's build and a later check, and the drift moves every
    network alike. ``within_fidelity_bound``: that relative error lies within the table's
    :attr:`~LatencyTable.fidelity_bound`, or within the anchors' own relative errors in this
    session if a noisier session spreads them wider (``session_bound``); None for a table that was
    never checked. Why the session's: the same trained network, checked twice in one demo run,
    read -5.5% and -9.3% against a bound of 6.9% set in a calmer session, while the published
    models around it were off by 12-15% before the drift was divided out.
    """
    frame = check_against_table(table, [arch], anchors, settings)
    checked, anchored = frame.iloc[0], frame[frame["role"] == "anchor"]
    drift = float((anchored["measured_ms"] / anchored["predicted_ms"]).median())
    relative = float(checked["predicted_ms"] * drift / checked["measured_ms"] - 1.0)
    anchors_relative = (anchored["predicted_ms"] * drift / anchored["measured_ms"] - 1.0).abs()
    bound = table.fidelity_bound
    session_bound = None if bound is None else max(bound, float(anchors_relative.max()))
    if session_bound is not None:
        within = abs(relative) <= session_bound
        (logger.info if within else logger.warning)(
            "%s timed in %s: %.3f ms, table %.3f ms; error %+.1f%% after the session's drift (x%.3f), %s the "
            "bound of %.1f%% (the table's largest error when checked, its noise floor, or its published "
            "models' spread in this session)",
            arch.name, settings.runtime, checked["measured_ms"], checked["predicted_ms"], 100 * relative, drift,
            "within" if within else "OUTSIDE", 100 * session_bound,
        )  # fmt: skip
    return Timed(
        measured_ms=float(checked["measured_ms"]),
        raw_measured_ms=float(checked["raw_measured_ms"]),
        measured_error=float(checked["relative_error"]),
        session_fidelity=SessionFidelity(
            models=len(anchored),
            median_abs_error=float(anchored["relative_error"].abs().median()),
            max_abs_error=float(anchored["relative_error"].abs().max()),
            session_drift=drift,
            relative_error=relative,
        ),
        timed_in=settings.runtime,
        timed_on=settings.device,  # this machine's cpu or cuda, or the remote device's address
        fidelity_bound=bound,
        session_bound=session_bound,
        within_fidelity_bound=None if session_bound is None else abs(relative) <= session_bound,
    )


def relative_errors(predicted, measured) -> np.ndarray:
    return (np.asarray(predicted) - np.asarray(measured)) / np.asarray(measured)
