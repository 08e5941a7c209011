"""Benchmark: course.ops.conv2d and max_pool2d against torch on the CPU, same inputs, one run.

    ./dev.sh bench ops [--repeat 20] [--threads N]

Prints, per shape and dtype, the median time of ours and torch's, the median ratio
of calls made in alternation (ours / torch; targets: float64 <= 1.0x, float32 <= 2.0x) and the peak memory
of one call on each side: the growth of the peak resident set of a fresh process
over its resident set just before the call (the same measure for NumPy and torch,
which allocates outside Python's tracemalloc). Time ratios are what to compare:
both sides run interleaved in one process, so machine noise affects them alike.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

import course.ops as ops

#: (N, C, F, H=W, K) from the issue.
SHAPES = [(16, 16, 32, 32, 3), (8, 3, 16, 128, 5), (64, 32, 64, 16, 3)]


def _paired_ms(ours, theirs, repeat: int) -> tuple[float, float, float]:
    """Median times of both sides and the median of their per-pair ratios.

    The two sides alternate call by call, so that a slow spell of a shared machine
    (which lasts far longer than one call) slows both alike and the ratio stays put;
    which goes first alternates too, since a call right after the other side's may
    find that side's threads still spinning on the cores.
    """
    ours(), theirs()  # warm-up: first-call allocations, thread pools
    t_ours, t_theirs = [], []
    for i in range(repeat):
        pair = ((ours, t_ours), (theirs, t_theirs))
        for fn, times in pair if i % 2 == 0 else pair[::-1]:
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    ratio = statistics.median(a / b for a, b in zip(t_ours, t_theirs))
    return 1e3 * statistics.median(t_ours), 1e3 * statistics.median(t_theirs), ratio


def _status_mib(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS: now, VmHWM: peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    """Reset the peak resident set (VmHWM) to the current one (Linux's clear_refs, value 5)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak_growth_mib(side: str, op: str, shape: tuple, dtype: str) -> float:
    """Peak RSS growth of one call, measured in a fresh process from a reset peak."""
    code = f"""
import json, resource, numpy as np, torch, torch.nn.functional as F
import course.ops as ops
from benchmarks.bench_ops import _inputs, _reset_peak, _status_mib
torch.set_num_threads(1)
x, w, b = _inputs({shape!r}, np.{dtype})
tx, tw, tb = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
before = _status_mib("VmRSS")
_reset_peak()
with torch.no_grad():
    out = {{("ours", "conv2d"): lambda: ops.conv2d(x, w, b, padding=1),
            ("torch", "conv2d"): lambda: F.conv2d(tx, tw, tb, padding=1),
            ("ours", "max_pool2d"): lambda: ops.max_pool2d(x, 2),
            ("torch", "max_pool2d"): lambda: F.max_pool2d(tx, 2)}}[({side!r}, {op!r})]()
print(json.dumps(_status_mib("VmHWM") - before))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return max(json.loads(done.stdout), 0.0)


def _inputs(shape: tuple, dtype) -> tuple:
    N, C, Fn, H, K = shape
    rng = np.random.default_rng(0)
    return (rng.standard_normal((N, C, H, H)).astype(dtype),
            rng.standard_normal((Fn, C, K, K)).astype(dtype),
            rng.standard_normal(Fn).astype(dtype))


def run(repeat: int, memory: bool) -> list[dict]:
    rows = []
    for shape in SHAPES:
        N, C, Fn, H, K = shape
        for dtype in (np.float32, np.float64):
            x, w, b = _inputs(shape, dtype)
            tx, tw, tb = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
            cases = {
                "conv2d": (lambda x=x, w=w, b=b: ops.conv2d(x, w, b, padding=1),
                           lambda tx=tx, tw=tw, tb=tb: F.conv2d(tx, tw, tb, padding=1)),
                "max_pool2d": (lambda x=x: ops.max_pool2d(x, 2),
                               lambda tx=tx: F.max_pool2d(tx, 2)),
            }
            for name, (ours, theirs) in cases.items():
                with torch.no_grad():
                    np.testing.assert_allclose(ours(), theirs().numpy(), rtol=1e-4, atol=1e-3)
                    t_ours, t_torch, ratio = _paired_ms(ours, theirs, repeat)
                row = dict(op=name, shape=f"{N},{C},{Fn},{H},{K}", dtype=np.dtype(dtype).name,
                           ours_ms=t_ours, torch_ms=t_torch, ratio=ratio,
                           output_mib=theirs().numel() * x.itemsize / 2**20)
                if memory:
                    dt = np.dtype(dtype).name
                    row["ours_mib"] = _peak_growth_mib("ours", name, shape, dt)
                    row["torch_mib"] = _peak_growth_mib("torch", name, shape, dt)
                rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="threads for torch (NumPy's BLAS uses its own setting)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, numpy {np.__version__}, torch threads {torch.get_num_threads()}")
    print(f"{'op':<11}{'N,C,F,H,K':<15}{'dtype':<9}{'ours ms':>9}{'torch ms':>10}{'ratio':>7}"
          f"{'ours MiB':>10}{'torch MiB':>11}{'output MiB':>12}  target")
    for r in run(args.repeat, not args.no_memory):
        target = 1.0 if r["dtype"] == "float64" else 2.0
        verdict = "ok" if r["ratio"] <= target else "MISSED"
        mem = f"{r['ours_mib']:>10.1f}{r['torch_mib']:>11.1f}" if "ours_mib" in r else f"{'-':>10}{'-':>11}"
        print(f"{r['op']:<11}{r['shape']:<15}{r['dtype']:<9}{r['ours_ms']:>9.2f}{r['torch_ms']:>10.2f}"
              f"{r['ratio']:>7.2f}{mem}{r['output_mib']:>12.1f}  <= {target:.1f}x {verdict}")


if __name__ == "__main__":
    main()
