"""Lookup-table fidelity on this machine's CPU: batch 1, one thread, input 224, in eager PyTorch
in onnxruntime or in ExecuTorch (``--runtime``: blocks and networks timed as exported ONNX graphs,
or as ``.pte`` programs lowered to XNNPACK, kept in the user's program cache).

Builds the latency table for the TF-NAS space and its no-SE variant (one table: they share every
block but the fixed one), calibrates it on whole networks sampled from the space, then compares
predicted with measured end-to-end latency for the ten published TF-NAS-space models, which the
calibration never saw. Prints the build time, the calibration residuals, the fidelity table, the
median and maximum absolute relative error, the signed median (a bias of the calibration), and the
noise floor (the spread of one whole network's latency measured in the session and timed again
after it). With another runtime than eager it also times the ten models in eager PyTorch and
prints each one's eager / runtime latency ratio.

    .venv/bin/python benchmarks/lut_fidelity.py [--runtime onnxruntime|executorch] [--width-step 8]
        [--calibration-networks 48] [--program-cache FOLDER]
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import replace
from pathlib import Path

from tfnas_kedro.datasets import LatencyTableDataset
from tfnas_kedro.nas import load_search_spaces, zoo_arch
from tfnas_kedro.nas.calibration import calibrate_and_check, measure_networks
from tfnas_kedro.nas.profiler import ProfilerSettings
from tfnas_kedro.nas.table_build import build_latency_table

ROOT = Path(__file__).resolve().parents[1]
MODELS = [f"TF-NAS-{x}" for x in "ABCD"] + [f"TF-NAS-{x}-wose" for x in "ABCD"] + ["TF-NAS-CPU-A", "TF-NAS-CPU-B"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument(
        "--width-step", type=int, default=None, help="default: the paper's 8; in executorch the runtime's (64)"
    )
    parser.add_argument("--calibration-networks", type=int, default=48)
    parser.add_argument("--network-rounds", type=int, default=40)
    parser.add_argument("--noise-repeats", type=int, default=5)
    parser.add_argument("--runtime", choices=["torch", "onnxruntime", "executorch"], default="torch")
    parser.add_argument(
        "--channel-block", type=int, default=None, help="widths on its multiples priced apart; default: the runtime's"
    )
    parser.add_argument(
        "--cold-caches",
        action="store_true",
        help="time every call after the other modules of its group (warmup 0, repeats 1, rounds 15): small inputs",
    )
    parser.add_argument("--program-cache", help="executorch: the folder of lowered programs (default: the user cache)")
    parser.add_argument("--save", help="folder to write the calibrated table and the fidelity table to")
    args = parser.parse_args()
    begun = time.perf_counter()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    spaces = load_search_spaces(ROOT / "conf/base/parameters_search_spaces.yml")
    settings = ProfilerSettings(
        device="cpu", batch_size=1, threads=1, runtime=args.runtime, program_cache=args.program_cache
    )
    if args.width_step is None and args.runtime != "executorch":
        args.width_step = 8  # the paper's grid; executorch's is its own (None: runtimes.WIDTH_STEP)
    if args.cold_caches:
        settings = replace(settings, warmup=0, repeats=1, rounds=15)
    networks = replace(settings, rounds=args.network_rounds, repeats=1, warmup=min(settings.warmup, 2))
    table = build_latency_table(
        [spaces["tfnas"], spaces["tfnas_wose"]],
        resolution=args.resolution,
        num_classes=1000,
        width_step=args.width_step,
        settings=settings,
        channel_block=args.channel_block,
    )
    archs = [zoo_arch(name, resolution=args.resolution) for name in MODELS]
    started = time.perf_counter()
    table, _, fidelity, summary = calibrate_and_check(
        table,
        [spaces["tfnas"], spaces["tfnas_wose"]],
        archs,
        networks,
        samples=args.calibration_networks,
        noise_repeats=args.noise_repeats,
    )
    calibration_seconds = time.perf_counter() - started

    m, c = table.meta, table.meta.calibration.model_dump()
    print(
        f"\ndevice: {m.device_name} ({m.device}), batch {m.batch_size}, {m.threads} thread(s), input {m.resolution}, "
        f"runtime {m.runtime.name} {m.runtime.version}"
    )
    print(
        f"table: {len(table.entries)} widths, step {m.width_step}, channel block {m.channel_block}, "
        f"built in {m.build_seconds:.0f} s "
        f"({m.curve_retimed} replaced by a second timing nearer their curve); "
        f"calibration and check ({c['networks']} sampled + {len(archs)} held-out networks) "
        f"in {calibration_seconds:.0f} s"
    )
    scales = ", ".join(f"{s:.2f} at {key}" for key, s in c["scales"].items())
    print(
        f"calibration: base x{c['base_scale']:.2f}; blocks x {scales} (common scale {c['scale']:.2f}); "
        f"{c['ms_per_mparam']:.3f} ms per million weights"
    )
    print(
        f"calibration residuals on its {c['networks']} sampled networks: median "
        f"{100 * c['median_abs_residual']:.1f}%, max {100 * c['max_abs_residual']:.1f}% "
        f"({c['outliers']} given zero weight)\n"
    )
    # the share of a model's expanded widths on the table's channel block (16 when it has none: the
    # blocked layouts of AVX-512): in onnxruntime the error grows with the share off it (docs/latency.md)
    block = m.channel_block or 16
    print(
        f"{'model':<16}{f'on {block}':>6}{'raw sum ms':>11}{'predicted':>11}{'measured':>10}"
        f"{'wall clock':>11}{'error':>8}"
    )
    for row, arch in zip(fidelity.itertuples(), archs, strict=True):
        on_block = sum(b.mid % block == 0 for b in arch.blocks) / len(arch.blocks)
        print(
            f"{row.name:<16}{on_block:>6.0%}{row.raw_predicted_ms:>11.2f}{row.predicted_ms:>11.2f}"
            f"{row.measured_ms:>10.2f}{row.raw_measured_ms:>11.2f}{100 * row.relative_error:>+7.1f}%"
        )
    floor = summary.noise_floor
    targets = ("<= 3%", "<= 8%") if args.runtime != "torch" else ("<= 5%", "<= 12%")
    print(
        f"\nmedian |error| {100 * summary.median_abs_error:.1f}% (target {targets[0]}), "
        f"max |error| {100 * summary.max_abs_error:.1f}% (target {targets[1]}), "
        f"signed median {100 * float(fidelity['relative_error'].median()):+.1f}% (a bias: target within +-1.5%)"
    )
    print(f"uncalibrated sum of isolated blocks: median error {100 * summary.uncalibrated_median_error:+.1f}%")
    print(
        f"noise floor: {floor.network} in the session and timed {len(floor.ms) - 1} times after it: "
        f"{min(floor.ms):.2f}.."
        f"{max(floor.ms):.2f} ms, spread {100 * floor.spread:.1f}% of the median"
    )
    if args.runtime != "torch":
        eager = measure_networks(archs, replace(networks, runtime="torch"))  # its own (eager) reference
        print(f"\neager PyTorch / {args.runtime} latency, the same networks on this machine:")
        for row, timing in zip(fidelity.itertuples(), eager, strict=True):
            ratio = timing.ms / row.measured_ms
            print(f"{row.name:<16}{timing.ms:>9.2f} ms / {row.measured_ms:>6.2f} ms = {ratio:.2f}")
    print(f"total time {time.perf_counter() - begun:.0f} s")
    if args.save:
        Path(args.save).mkdir(parents=True, exist_ok=True)
        LatencyTableDataset(filepath=f"{args.save}/latency_table.parquet").save(table)
        fidelity.to_csv(f"{args.save}/fidelity.csv", index=False)


if __name__ == "__main__":
    main()
