"""How long an explorer takes to redraw after a control changes.

Run ``./dev.sh bench widgets`` (``--help`` for options). Each explorer
is built once (the photo explorers on the 512x512 ``data.camera()``), warmed up,
then its controls are set in code over and over; each assignment runs the whole
callback synchronously: recompute through course.ops, update the figure, render
it to PNG/JPEG for the browser. Printed: median, 95th percentile and maximum in
milliseconds per explorer, against the course's budget of 100 ms: wall-clock time
(what a student waits) and this process's CPU time (the same without the wait for
a core that other programs hold; on an idle machine the two agree).

By default the process is pinned to 2 CPU cores (the students' machines and CI);
``--cores 0`` uses all of them.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

BUDGET_MS = 100.0


def _pin(cores: int) -> str:
    if cores <= 0 or not hasattr(os, "sched_setaffinity"):
        return f"{os.cpu_count()} cores (not pinned)"
    available = sorted(os.sched_getaffinity(0))
    chosen = available[:cores]
    os.sched_setaffinity(0, chosen)
    return f"{len(chosen)} of {len(available)} cores ({chosen})"


def _cases(camera):
    """(name, make explorer, list of (control, value) changes cycled through)."""
    import torch

    from course import viz, widgets

    def feature_model():
        torch.manual_seed(0)
        return torch.nn.Sequential(
            torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        )

    labels = ["0 (Conv2d)", "1 (ReLU)", "2 (MaxPool2d)", "3 (Conv2d)", "4 (ReLU)", "5 (MaxPool2d)"]
    return [
        ("conv_stepper", widgets.conv_stepper,
         [("step", s) for s in range(1, 9)] + [("operation", "convolution"), ("step", 0),
                                                ("operation", "cross-correlation")]),
        ("conv_arithmetic_explorer", widgets.conv_arithmetic_explorer,
         [("padding", 1), ("stride", 2), ("step", 3), ("dilation", 2), ("transposed", True), ("step", 7),
          ("transposed", False), ("dilation", 1), ("stride", 1), ("padding", 0), ("step", 0)]),
        ("kernel_explorer (camera 512x512)", lambda: widgets.kernel_explorer(camera),
         [("preset", "Sobel x (horizontal gradient)"), ("relu", True), ("padding_mode", "reflect"),
          ("stride", 2), ("w11", 1.0), ("stride", 1), ("relu", False), ("padding_mode", "zeros"),
          ("preset", "Gaussian blur"), ("preset", "vertical edge detector")]),
        ("kernel_explorer (cat 300x451 RGB)", widgets.kernel_explorer,
         [("channels", "separate"), ("preset", "Laplacian"), ("relu", True), ("channels", "sum"),
          ("relu", False), ("preset", "vertical edge detector")]),
        ("pooling_explorer (camera 512x512)", lambda: widgets.pooling_explorer(camera),
         [("shift_cols", 1), ("shift_rows", 2), ("mode", "avg"), ("kernel_size", 3), ("stride", 3),
          ("mode", "max"), ("kernel_size", 2), ("stride", 2), ("shift_rows", 0), ("shift_cols", 0)]),
        ("pooling_explorer (8x8 map)", widgets.pooling_explorer,
         [("shift_cols", 1), ("shift_rows", -1), ("mode", "avg"), ("mode", "max"), ("shift_rows", 0),
          ("shift_cols", 0)]),
        ("receptive_field_explorer", widgets.receptive_field_explorer,
         [("layer", 3), ("unit_row", 10), ("unit_col", 50), ("layer", 6), ("input_size", 90), ("layer", 8),
          ("input_size", 75), ("unit_row", 37), ("unit_col", 37)]),
        ("conv_matrix_viewer", widgets.conv_matrix_viewer,
         [("stride", 2), ("padding", 1), ("dilation", 2), ("bias", True), ("dilation", 1), ("padding", 0),
          ("stride", 1), ("bias", False)]),
        ("feature_map_viewer (camera 512x512)", lambda: widgets.feature_map_viewer(feature_model(), camera),
         [("layer", label) for label in labels[1:] + labels[:1]]),
        ("name_the_operation", widgets.name_the_operation,
         [("step", 1), ("step", 2), ("operation", "max pooling"), ("kernel_size", 3), ("check", True),
          ("stride", 2), ("check", False), ("puzzle", viz.PUZZLES["puzzle 6"]), ("step", 5),
          ("puzzle", viz.PUZZLES["lecture, frame 1"])]),
    ]


def _percentile(values, q):
    import numpy as np

    return float(np.percentile(values, q))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="passes over each explorer's changes (default 3)")
    parser.add_argument("--cores", type=int, default=2, help="pin to this many cores; 0: do not pin")
    args = parser.parse_args(argv)

    cores = _pin(args.cores)
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    from course import data

    camera = data.camera()
    print(f"redraw time per control change, {cores}, {args.rounds} rounds; budget {BUDGET_MS:.0f} ms")
    print(f"{'explorer':40s} {'n':>4s} {'median':>8s} {'p95':>8s} {'max':>8s} {'cpu med':>8s} {'cpu p95':>8s}")
    worst = 0.0
    for name, make, changes in _cases(camera):
        explorer = make()
        for key, value in changes:  # warm-up: fonts, caches, first layouts
            explorer.controls[key].value = value
        times, cpu = [], []
        for _ in range(args.rounds):
            for key, value in changes:
                start, start_cpu = time.perf_counter(), time.process_time()
                explorer.controls[key].value = value
                times.append(1000 * (time.perf_counter() - start))
                cpu.append(1000 * (time.process_time() - start_cpu))
                if explorer.error:
                    raise RuntimeError(f"{name}: setting {key}={value!r} gave an error: {explorer.error}")
        median, p95 = float(np.median(times)), _percentile(times, 95)
        worst = max(worst, p95)
        flag = "" if p95 <= BUDGET_MS else "  over budget"
        print(f"{name:40s} {len(times):4d} {median:8.1f} {p95:8.1f} {max(times):8.1f} "
              f"{np.median(cpu):8.1f} {_percentile(cpu, 95):8.1f}{flag}")
    print(f"worst p95: {worst:.1f} ms ({'within' if worst <= BUDGET_MS else 'OVER'} the {BUDGET_MS:.0f} ms budget)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
