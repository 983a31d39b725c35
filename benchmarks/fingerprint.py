"""Benchmark seedreg.fingerprint against a read pass, a naive hash and a memory bound.

Run: ``python benchmarks/fingerprint.py``. Prints throughputs, ratios and PASS/MISS per target:
  (a) read pass ``a.view(np.int64).sum()`` over a 256 MiB float64 array;
  (b) ``fingerprint(a)`` (chunk digests included), target b/a >= 0.8;
  (c) naive ``hashlib.sha256(a.tobytes())``, target fingerprint >= 10x faster;
  (d) strided view ``a2d[:, ::2]`` of an 8192x8192 float64 array (512 MiB; the view holds
      256 MiB) against a read pass over the same view, target >= 0.4;
  (e) peak extra memory while fingerprinting 1 GiB arrays (C-contiguous, Fortran-ordered,
      big-endian, and a [:, ::2] view of a 2 GiB array), by tracemalloc and by RSS, < 64 MiB.
Not a test: the figures depend on the machine.
"""

from __future__ import annotations

import gc
import hashlib
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from seedreg.fingerprint import fingerprint  # noqa: E402

MIB = 1 << 20


def best(fn: Callable[[], object], n: int) -> float:
    """Best wall time of ``n`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def gbps(nbytes: int, seconds: float) -> str:
    return f"{nbytes / seconds / 1e9:6.2f} GB/s"


def rss_hwm_kib() -> int | None:
    """Peak resident set size (VmHWM) of this process in KiB, or None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_rss_hwm() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def current_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def peak_extra(arr: np.ndarray) -> tuple[float, float | None]:
    """Extra MiB while fingerprinting ``arr``: (tracemalloc peak, RSS high-water delta)."""
    gc.collect()
    fingerprint(arr[:1])  # warm up the pool outside the measurement
    rss_ok = reset_rss_hwm()
    rss0 = current_rss_kib()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    fingerprint(arr)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    hwm = rss_hwm_kib()
    rss = (hwm - rss0) / 1024 if rss_ok and hwm is not None else None
    return (peak - base) / MIB, rss


def main() -> None:
    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    rng = np.random.default_rng(0)

    a = rng.random(256 * MIB // 8)
    nb = a.nbytes
    t_read = best(lambda: a.view(np.int64).sum(), 7)
    t_fp = best(lambda: fingerprint(a), 7)
    t_naive = best(lambda: hashlib.sha256(a.tobytes()).digest(), 3)
    r_b = t_read / t_fp
    r_c = t_naive / t_fp
    print(f"\n256 MiB float64, C-contiguous ({fingerprint(a).n_chunks} chunks)")
    print(f"  (a) read pass int64 sum      {gbps(nb, t_read)}")
    print(f"  (b) fingerprint              {gbps(nb, t_fp)}   b/a = {r_b:.2f}  "
          f"(target >= 0.8)  {verdict(r_b >= 0.8)}")
    print(f"  (c) sha256(a.tobytes())      {gbps(nb, t_naive)}   fingerprint/naive = "
          f"{r_c:.1f}x  (target >= 10x)  {verdict(r_c >= 10)}")
    del a

    a2d = rng.random((8192, 8192))
    view = a2d[:, ::2]
    vb = view.size * view.itemsize
    t_vread = best(lambda: np.add.reduce(view.view(np.int64), axis=None), 5)
    t_vfp = best(lambda: fingerprint(view), 5)
    r_d = t_vread / t_vfp
    print("\nstrided view a2d[:, ::2] of 8192x8192 float64 (512 MiB; view holds 256 MiB)")
    print(f"      read pass int64 reduce   {gbps(vb, t_vread)}")
    print(f"  (d) fingerprint              {gbps(vb, t_vfp)}   ratio = {r_d:.2f}  "
          f"(target >= 0.4)  {verdict(r_d >= 0.4)}")
    del a2d, view

    print("\n1 GiB arrays (larger than this machine's caches, for context and memory)")
    g = rng.random(1024 * MIB // 8).reshape(16384, 8192)
    t_gread = best(lambda: g.view(np.int64).sum(), 3)
    t_gfp = best(lambda: fingerprint(g), 3)
    print(f"      read pass {gbps(g.nbytes, t_gread)}, fingerprint {gbps(g.nbytes, t_gfp)}, "
          f"ratio {t_gread / t_gfp:.2f}")
    cases: list[tuple[str, Callable[[], np.ndarray]]] = [
        ("C-contiguous", lambda: g),
        ("Fortran order", lambda: np.asfortranarray(g)),
        ("big-endian", lambda: g.astype(">f8")),
        ("[:, ::2] of 2 GiB", lambda: np.repeat(g, 2, axis=1)[:, ::2]),
    ]
    worst = 0.0
    for name, make in cases:
        arr = make()
        t = best(lambda: fingerprint(arr), 1)
        same = fingerprint(arr) == fingerprint(g)
        tm, rss = peak_extra(arr)
        worst = max(worst, tm, rss or 0.0)
        rss_s = f"{rss:6.1f} MiB" if rss is not None else "   n/a"
        print(f"  (e) {name:18s} {gbps(arr.size * 8, t)}  tracemalloc peak {tm:6.1f} MiB, "
              f"RSS peak {rss_s}  same digest: {same}")
        del arr
        gc.collect()
    print(f"  (e) worst peak extra memory {worst:.1f} MiB (target < 64 MiB)  "
          f"{verdict(worst < 64)}")


if __name__ == "__main__":
    main()
