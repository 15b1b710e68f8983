"""Process memory: keeping freed blocks for reuse, giving them back, the run's peak, and
exempting the imported modules from garbage collection.

glibc's malloc serves every block over its mmap threshold (at most 32 MiB) with a fresh mmap and
unmaps it on free, so each training step of SmolLM2 page-faults its large tensors in anew (see
reuse_freed_memory); the kept memory is handed back after every stage (release_freed_memory).
PeakMemory samples the resident memory of the experiment and its evaluation workers together,
which getrusage cannot give (it reports the largest single process).
"""
from __future__ import annotations

import ctypes
import gc
import platform
import threading


def _glibc():
    """libc when it is glibc on Linux, else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def freeze_long_lived() -> None:
    """Exempt every object alive now from garbage collection (gc.collect, then gc.freeze): called
    once per process before any model exists, when those objects are in practice the imported
    modules (~500,000 with torch and transformers), which live as long as the process anyway.

    A full collection traverses every tracked object: ~0.2 s here, and the experiment runs one
    after every stage and every attack (release_freed_memory), about 100 a seed on the quick
    experiment; after the freeze one takes ~1 ms plus what later imports added. Objects created later are collected
    as before, so no memory is kept that was not before.
    """
    gc.collect()
    gc.freeze()


def reuse_freed_memory() -> bool:
    """Keep freed memory in the process for the next step instead of handing it back to the OS.

    glibc serves every block over its mmap threshold (at most 32 MiB) with a fresh mmap and
    unmaps it on free, so each training step of SmolLM2 page-faults its large tensors in anew:
    the tied 49152x576 embedding's dense gradient (zero-filled, then added to the LM head's) and
    the (batch, length, 49152) logits and their gradients. Measured here (8x64 batches, 2 threads,
    median of 6 steps): 2.45 s per step by default, 2.0 s with mmap off and the heap trimmed only
    above 1 GiB; the flagship ran in 68-70 min instead of 94 (a faster host state included), with
    the same numbers. The price is memory: a freed block can leave a hole that the next, aligned
    request of the same size does not fit (tests/test_memory.py), so a process grows within a
    stage. Called once per training process, with deterministic_mode (the experiment, sisa-check,
    the bench), not by the evaluation workers, whose heaps would grow (parallel.py: there the
    default costs ~20% in time and saves ~0.5 GiB a worker); a no-op (False) off glibc. Stages.run
    gives the kept memory back after every stage (release_freed_memory), run_attacks after every
    attack.
    """
    libc = _glibc()
    if libc is None:
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # <malloc.h>
    return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 1 << 30))


def release_freed_memory() -> bool:
    """Collect garbage cycles, then hand the memory reuse_freed_memory kept back to the OS (glibc
    malloc_trim): called after every stage (after its wall time is taken) and every attack, so that
    a process waiting for others (the experiment while its workers evaluate) holds only what it
    still uses. False (collected, nothing trimmed) off glibc."""
    gc.collect()
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)  # returns whether memory was released; both are fine
    return True


class PeakMemory:
    """The peak of the summed resident memory (RSS) of this process and all its descendants,
    sampled every `interval` seconds on a daemon thread while in a `with` block; `peak_mb` in MiB.
    A spike shorter than the interval can be missed: the run also records getrusage's peak of
    the largest single process (results.peak_rss_mb), which is exact but not a sum."""

    def __init__(self, interval: float = 0.5):
        self.interval, self.peak_mb = interval, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="peak-memory")

    def sample(self) -> float:
        """The summed RSS now, in MiB (processes that end while being read are skipped)."""
        import psutil

        me = psutil.Process()
        total = 0
        for proc in [me, *me.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        self.peak_mb = max(self.peak_mb, total / 2**20)
        return total / 2**20

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> PeakMemory:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def peak_rss(meta: dict) -> tuple[float | None, str]:
    """A run's peak memory in MiB and what it covers: the experiment and its workers summed
    (peak_rss_total_mb, sampled by memory.PeakMemory) where the run recorded it, else the largest
    single process (peak_rss_mb, all that runs before it recorded); (None, "") if neither."""
    if meta.get("peak_rss_total_mb") is not None:
        return meta["peak_rss_total_mb"], "all processes"
    if meta.get("peak_rss_mb") is not None:
        return meta["peak_rss_mb"], "largest process"
    return None, ""
