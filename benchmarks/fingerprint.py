"""Benchmark seedreg.fingerprint against a read pass, a naive hash and a memory bound.

Run: ``python benchmarks/fingerprint.py``. Prints throughputs, ratios and PASS/MISS per target:
  (a) read pass ``a.view(np.int64).sum()`` over a 256 MiB float64 array;
  (b) ``fingerprint(a)`` (chunk digests included), target b/a >= 0.8;
  (c) naive ``hashlib.sha256(a.tobytes())``, target fingerprint >= 10x faster;
  (d) strided view ``a2d[:, ::2]`` of an 8192x8192 float64 array (512 MiB; the view holds
      256 MiB) against a read pass over the same view, target >= 0.4;
  (e) peak extra memory while fingerprinting 1 GiB arrays (C-contiguous, Fortran-ordered,
      big-endian, a [:, ::2] view of a 2 GiB array), each in a fresh process, by tracemalloc
      and by the RSS high-water mark (VmHWM, reset first), target < 64 MiB.
Not a test: the figures depend on the machine.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import blake3
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from seedreg.fingerprints.encoding import fingerprint

MIB = 1 << 20


def best(fn: Callable[[], object], n: int) -> float:
    """Best wall time of ``n`` calls (after one warm-up call)."""
    return best_of({"f": fn}, n)["f"]


def best_of(fns: dict[str, Callable[[], object]], n: int) -> dict[str, float]:
    """Best wall time of each function over ``n`` rounds, interleaved so that load from
    other processes hits every contender alike."""
    for fn in fns.values():
        fn()
    times = {name: float("inf") for name in fns}
    for _ in range(n):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name] = min(times[name], time.perf_counter() - t0)
    return times


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def gbps(nbytes: int, seconds: float) -> str:
    return f"{nbytes / seconds / 1e9:6.2f} GB/s"


def _status_kib(field: str) -> int | None:
    """A ``VmHWM``/``VmRSS`` figure of this process in KiB (None off Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _memory_case_arrays() -> dict[str, Callable[[], np.ndarray]]:
    def base() -> np.ndarray:
        return np.random.default_rng(0).random(1024 * MIB // 8).reshape(16384, 8192)
    return {
        "C-contiguous": base,
        "Fortran order": lambda: np.asfortranarray(base()),
        "big-endian": lambda: base().astype(">f8"),
        "[:, ::2] of 2 GiB": lambda: np.repeat(base(), 2, axis=1)[:, ::2],
    }


def memory_case(name: str) -> None:
    """Child process: build one 1 GiB array, then measure what fingerprinting it adds."""
    arr = _memory_case_arrays()[name]()
    gc.collect()
    fingerprint(arr[:2])  # start the pool outside the measurement
    t0 = time.perf_counter()
    ref = fingerprint(arr)
    seconds = time.perf_counter() - t0
    try:  # reset VmHWM to the current RSS (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")
        rss0 = _status_kib("VmRSS")
    except OSError:
        rss0 = None
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    again = fingerprint(arr)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    hwm = _status_kib("VmHWM")
    print(json.dumps({
        "seconds": seconds, "nbytes": arr.size * arr.itemsize, "digest": str(ref),
        "same": again == ref, "tracemalloc_mib": (peak - base) / MIB,
        "rss_mib": None if rss0 is None or hwm is None else (hwm - rss0) / 1024,
    }))


def main() -> None:
    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs, python {sys.version.split()[0]}, "
          f"load average {os.getloadavg()[0]:.2f} (other processes skew threaded figures)")
    rng = np.random.default_rng(0)

    a = rng.random(256 * MIB // 8)
    nb = a.nbytes
    t = best_of({"read": lambda: a.view(np.int64).sum(), "fp": lambda: fingerprint(a)}, 25)
    t_read, t_fp = t["read"], t["fp"]
    t_ceil = best(lambda: blake3.blake3(a.view(np.uint8), max_threads=2).digest(), 9)
    t_naive = best(lambda: hashlib.sha256(a.tobytes()).digest(), 3)
    r_b = t_read / t_fp
    r_c = t_naive / t_fp
    print(f"\n256 MiB float64, C-contiguous ({fingerprint(a).n_chunks} chunks)")
    print(f"  (a) read pass int64 sum      {gbps(nb, t_read)}")
    print(f"  (b) fingerprint              {gbps(nb, t_fp)}   b/a = {r_b:.2f}  "
          f"(target >= 0.8)  {verdict(r_b >= 0.8)}")
    print(f"      ceiling: blake3(a, max_threads=2), one digest, no chunks {gbps(nb, t_ceil)}"
          f"   ratio to (a) = {t_read / t_ceil:.2f}")
    print(f"  (c) sha256(a.tobytes())      {gbps(nb, t_naive)}   fingerprint/naive = "
          f"{r_c:.1f}x  (target >= 10x)  {verdict(r_c >= 10)}")
    del a

    a2d = rng.random((8192, 8192))
    view = a2d[:, ::2]
    vb = view.size * view.itemsize
    t = best_of({"read": lambda: np.add.reduce(view.view(np.int64), axis=None),
                 "fp": lambda: fingerprint(view)}, 9)
    t_vread, t_vfp = t["read"], t["fp"]
    r_d = t_vread / t_vfp
    print("\nstrided view a2d[:, ::2] of 8192x8192 float64 (512 MiB; view holds 256 MiB)")
    print(f"      read pass int64 reduce   {gbps(vb, t_vread)}")
    print(f"  (d) fingerprint              {gbps(vb, t_vfp)}   ratio = {r_d:.2f}  "
          f"(target >= 0.4)  {verdict(r_d >= 0.4)}")
    del a2d, view

    print("\n1 GiB arrays (larger than this machine's caches, for context and memory)")
    g = rng.random(1024 * MIB // 8).reshape(16384, 8192)
    t = best_of({"read": lambda: g.view(np.int64).sum(), "fp": lambda: fingerprint(g)}, 5)
    t_gread, t_gfp = t["read"], t["fp"]
    print(f"      read pass {gbps(g.nbytes, t_gread)}, fingerprint {gbps(g.nbytes, t_gfp)}, "
          f"ratio {t_gread / t_gfp:.2f}")
    del g
    gc.collect()
    worst, digests = 0.0, set()
    for name in _memory_case_arrays():
        out = subprocess.run([sys.executable, __file__, "--memory-case", name],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout)
        digests.add(r["digest"])
        rss = r["rss_mib"]
        worst = max(worst, r["tracemalloc_mib"], rss or 0.0)
        rss_s = f"{rss:6.1f} MiB" if rss is not None else "   n/a"
        print(f"  (e) {name:18s} {gbps(r['nbytes'], r['seconds'])}  tracemalloc peak "
              f"{r['tracemalloc_mib']:6.1f} MiB, RSS high-water {rss_s}")
    print(f"  (e) all four digests equal: {len(digests) == 1}; worst peak extra memory "
          f"{worst:.1f} MiB (target < 64 MiB)  {verdict(worst < 64 and len(digests) == 1)}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--memory-case":
        memory_case(sys.argv[2])
    else:
        main()
