"""The latency timer that runs on a remote device: one file, copied there by the table builder.

It needs Python >= 3.9 and NumPy on the device, with onnxruntime for ONNX files or torch and
ExecuTorch for ``.pte`` programs (the manifest's ``runtime``), and imports nothing of this project:
it times the files a manifest names and prints one JSON document. Nothing is unpickled and no
code but this file runs there; the host checks the answer against a schema and executes nothing
from it.

The statistic is the local harness's (``profiler.Profiler``): modules are timed in interleaved
rounds, each call divided by the median of five calls of a fixed reference network right after it
(the device's drift divided out), scaled by the reference's latency, and summarised by a low
quantile; a module whose interquartile spread is above ``max_spread`` is timed again.

    python3 device_timer.py --probe [RUNTIME]  # what this device is, and what RUNTIME lacks: JSON
    python3 device_timer.py MANIFEST.json      # timings of the manifest's models: JSON
"""

# ruff: noqa: B905  (zip's strict= needs Python 3.10; the device may have 3.9)
from __future__ import annotations

import json
import os
import platform
import sys
import time

SCHEMA = "tfnas-device-timer/1"
MIN_PYTHON = (3, 9)


def summarise(ratios, raw, reference_ms, quantile, normalize=True):
    """One module's timing from its samples: ``ratios`` (to the reference, or ms when not
    normalising) and ``raw`` wall-clock ms. Shared with the local harness, so both report alike."""
    import numpy as np

    values = np.asarray(ratios, dtype=float) * (reference_ms if normalize else 1.0)
    stat = float(np.quantile(values, quantile))
    q25, q75 = np.quantile(values, [0.25, 0.75])
    return {
        "ms": stat,
        "median_ms": float(np.median(values)),
        "spread": float((q75 - q25) / max(stat, 1e-9)),
        "samples": len(values),
        "raw_ms": float(np.quantile(raw, quantile)),
    }


def cpu_model():
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


NEEDS = {"onnxruntime": ("numpy", "onnxruntime"), "executorch": ("numpy", "torch", "executorch")}


def _version(module):
    if module == "executorch":
        from executorch import version  # the package itself has no __version__

        return version.__version__
    return __import__(module).__version__


def probe(runtime="onnxruntime"):
    """What this device is, and whether it can time in ``runtime``: the host records it with the table."""
    answer = {
        "schema": SCHEMA,
        "python": platform.python_version(),
        "uname": " ".join(platform.uname()),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "missing": [],
    }
    if sys.version_info[:2] < MIN_PYTHON:
        answer["missing"].append("Python >= {}.{}".format(*MIN_PYTHON))
    for module in NEEDS.get(runtime, (runtime,)):
        try:
            answer[module] = _version(module)
        except ImportError:
            answer["missing"].append(module)
    return answer


class _Session:
    def __init__(self, path, shape, threads):
        import numpy as np
        import onnxruntime as ort

        options = ort.SessionOptions()  # as the local harness sets them (runtimes.session_options)
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        name = self.session.get_inputs()[0].name
        self.feed = {name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}

    def __call__(self):
        self.session.run(None, self.feed)


class _Program:
    """A ``.pte`` program in ExecuTorch's runtime, its input set once (as the host's harness does)."""

    def __init__(self, path, shape, threads):
        import warnings

        import torch

        try:  # the runtime's extension alone: its wrapper ``portable_lib`` also imports the whole
            # exporter (``executorch.exir``: 5 of a session's 6.5 s start here, more on a board's CPU)
            from executorch.extension.pybindings import _C as portable_lib
        except ImportError:  # a release that packs the extension otherwise
            with warnings.catch_warnings():  # the wrapper warns that its Python API is experimental
                warnings.simplefilter("ignore")
                from executorch.extension.pybindings import portable_lib
        if portable_lib._threadpool_get_thread_count() != threads:
            portable_lib._unsafe_reset_threadpool(threads)
        self.program = portable_lib._load_program(path)
        self.method = self.program.load_method("forward")
        self.method.set_inputs([torch.randn(*shape, generator=torch.Generator().manual_seed(0))])

    def __call__(self):
        self.method.execute()


SESSIONS = {"onnxruntime": _Session, "executorch": _Program}


def _timed(call):
    begin = time.perf_counter_ns()
    call()
    return (time.perf_counter_ns() - begin) / 1e6


def _rounds(calls, reference, m):
    ratios, raw = [[] for _ in calls], [[] for _ in calls]
    for _ in range(m["rounds"]):
        for i, call in enumerate(calls):
            for _ in range(m["warmup"]):
                call()
            times = [_timed(call) for _ in range(m["repeats"])]
            raw[i].extend(times)
            if m["normalize"]:
                local = sorted(_timed(reference) for _ in range(5))[2]
                ratios[i].extend(t / local for t in times)
            else:
                ratios[i].extend(times)
    return ratios, raw


def _reference_ms(reference, calls=60):
    """The reference's latency: a low quantile of many calls after ten warm ones (as locally)."""
    import numpy as np

    for _ in range(10):
        reference()
    return float(np.quantile([_timed(reference) for _ in range(calls)], 0.1))


def time_manifest(folder, m):
    session = SESSIONS[m.get("runtime", "onnxruntime")]
    reference = session(os.path.join(folder, m["reference"]["file"]), m["reference"]["shape"], m["threads"])
    if m.get("reference_ms") is None:
        reference_ms = _reference_ms(reference)
    else:
        for _ in range(10):  # a cold reference would be the yardstick of the first samples
            reference()
        reference_ms = float(m["reference_ms"])
    calls = [session(os.path.join(folder, x["file"]), x["shape"], m["threads"]) for x in m["models"]]
    ratios, raw = _rounds(calls, reference, m)
    timings = [summarise(r, w, reference_ms, m["quantile"], m["normalize"]) for r, w in zip(ratios, raw)]
    for _ in range(m["remeasure"]):
        noisy = [i for i, t in enumerate(timings) if t["spread"] > m["max_spread"]]
        if not noisy:
            break
        again, again_raw = _rounds([calls[i] for i in noisy], reference, m)
        for i, r, w in zip(noisy, again, again_raw):
            retimed = summarise(r, w, reference_ms, m["quantile"], m["normalize"])
            if retimed["spread"] < timings[i]["spread"]:
                timings[i] = retimed
    for timing, model in zip(timings, m["models"]):
        timing["id"] = model["id"]
    return {"schema": SCHEMA, "reference_ms": reference_ms, "timings": timings}


def main(argv):
    if argv[1:2] == ["--probe"] and len(argv) <= 3:
        answer = probe(*argv[2:])
    elif len(argv) == 2:
        with open(argv[1]) as handle:
            manifest = json.load(handle)
        answer = time_manifest(os.path.dirname(os.path.abspath(argv[1])), manifest)
    else:
        sys.stderr.write(__doc__)
        return 2
    sys.stdout.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
