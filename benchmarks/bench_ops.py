"""Benchmark: course.ops.conv2d and max_pool2d against torch on the CPU, same inputs, one run.

    python benchmarks/bench_ops.py [--repeat 20] [--threads N]

Prints, per shape and dtype, the median time of ours and torch's, their ratio
(ours / torch; targets: float64 <= 1.0x, float32 <= 2.0x) and the peak memory
each allocates for one call (tracemalloc for NumPy; torch's CPU allocations are
measured as the growth of the process's peak resident set, see --help).
Ratios are what to compare: both sides run interleaved in one process, so
machine noise affects them alike.
"""
from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import numpy as np
import torch
import torch.nn.functional as F

import course.ops as ops

#: (N, C, F, H=W, K) from the issue.
SHAPES = [(16, 16, 32, 32, 3), (8, 3, 16, 128, 5), (64, 32, 64, 16, 3)]


def _median_ms(fn, repeat: int) -> float:
    fn()  # warm-up: first-call allocations, thread pools
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _numpy_peak_mib(fn) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def run(repeat: int) -> list[dict]:
    rows = []
    rng = np.random.default_rng(0)
    for N, C, Fn, H, K in SHAPES:
        for dtype in (np.float32, np.float64):
            x = rng.standard_normal((N, C, H, H)).astype(dtype)
            w = rng.standard_normal((Fn, C, K, K)).astype(dtype)
            b = rng.standard_normal(Fn).astype(dtype)
            tx, tw, tb = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
            cases = {
                "conv2d": (lambda: ops.conv2d(x, w, b, padding=1),
                           lambda: F.conv2d(tx, tw, tb, padding=1)),
                "max_pool2d": (lambda: ops.max_pool2d(x, 2),
                               lambda: F.max_pool2d(tx, 2)),
            }
            for name, (ours, theirs) in cases.items():
                with torch.no_grad():
                    np.testing.assert_allclose(ours(), theirs().numpy(), rtol=1e-4, atol=1e-3)
                    t_ours, t_torch = _median_ms(ours, repeat), _median_ms(theirs, repeat)
                out_mib = theirs().numel() * x.itemsize / 2**20
                rows.append(dict(op=name, shape=f"{N},{C},{Fn},{H},{K}", dtype=np.dtype(dtype).name,
                                 ours_ms=t_ours, torch_ms=t_torch, ratio=t_ours / t_torch,
                                 ours_peak_mib=_numpy_peak_mib(ours), output_mib=out_mib))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="threads for torch (NumPy's BLAS uses its own setting)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, numpy {np.__version__}, torch threads {torch.get_num_threads()}")
    print(f"{'op':<11}{'N,C,F,H,K':<15}{'dtype':<9}{'ours ms':>9}{'torch ms':>10}{'ratio':>7}"
          f"{'ours peak MiB':>15}{'output MiB':>12}  target")
    for r in run(args.repeat):
        target = 1.0 if r["dtype"] == "float64" else 2.0
        verdict = "ok" if r["ratio"] <= target else "MISSED"
        print(f"{r['op']:<11}{r['shape']:<15}{r['dtype']:<9}{r['ours_ms']:>9.2f}{r['torch_ms']:>10.2f}"
              f"{r['ratio']:>7.2f}{r['ours_peak_mib']:>15.1f}{r['output_mib']:>12.1f}  <= {target:.1f}x {verdict}")


if __name__ == "__main__":
    main()
