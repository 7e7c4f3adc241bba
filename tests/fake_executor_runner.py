"""A stand-in for ExecuTorch's ``executor_runner`` (examples/portable/executor_runner), for the
tests of the adb runner path: the real one is a C++ binary built for the phone, which cannot be
built here (its build fetches submodules). This one runs the program in ExecuTorch's runtime
through its Python bindings and keeps what the host relies on, as the runner's source has it
(``main`` at cff6f4dd, version 1.5.0): the flags ``--model_path``, ``--num_executions`` and
``--cpu_threads``; inputs filled with ones; only ``execute()`` timed, per iteration; the log on
stderr in ``ET_LOG``'s format (``%c %02u:%02u:%02u.%06lu executorch:%s:%zu] %s``) with the lines
``Iteration i of N: X ms`` and ``Model executed successfully N time(s) in X ms.``; outputs on stdout.

``FAKE_RUNNER_TOTAL_ONLY=1`` prints only the total, as an older runner does."""

import argparse
import os
import sys
import time


def log(line: int, message: str) -> None:
    now = time.time()
    stamp = time.strftime("%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}"
    print(f"I {stamp} executorch:executor_runner.cpp:{line}] {message}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_path", default="model.pte")
    parser.add_argument("--num_executions", type=int, default=1)
    parser.add_argument("--cpu_threads", type=int, default=-1)
    args = parser.parse_args()
    import torch

    # the extension itself, not ``portable_lib``: that wrapper imports all of ``executorch.exir`` (the
    # exporter, about 5 s a process here) and this stand-in starts once per program timed
    from executorch.extension.pybindings import _C as portable_lib

    if args.cpu_threads > 0:
        portable_lib._unsafe_reset_threadpool(args.cpu_threads)
    program = portable_lib._load_program(args.model_path)
    log(476, f"Model file {args.model_path} is loaded.")
    method = program.load_method("forward")
    sizes = program.method_meta("forward").input_tensor_meta(0).sizes()
    total = 0.0
    for i in range(args.num_executions):
        method.set_inputs([torch.ones(*sizes)])  # re-prepared each iteration, untimed
        begin = time.perf_counter_ns()
        method.execute()
        elapsed = (time.perf_counter_ns() - begin) / 1e6
        total += elapsed
        if not os.environ.get("FAKE_RUNNER_TOTAL_ONLY"):
            log(781, f"Iteration {i + 1} of {args.num_executions}: {elapsed:f} ms")
    log(791, f"Model executed successfully {args.num_executions} time(s) in {total:f} ms.")
    print(method.get_outputs()[0].flatten()[:4])
    return 0


if __name__ == "__main__":
    sys.exit(main())
