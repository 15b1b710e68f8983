"""unlearn/memory.py: freed memory kept for reuse, then released; the summed peak of a run."""
import subprocess
import sys
import time

import pytest

from unlearn.memory import PeakMemory

_RSS_AFTER_FREE = """
import os, torch
from unlearn.memory import release_freed_memory, reuse_freed_memory

def rss_mib():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

def kept_after_free(rows=64):  # a rows x 4-MiB tensor, touched, freed: how much is still resident?
    before = rss_mib()
    x = torch.ones(rows, 2**20)
    del x
    return rss_mib() - before

default = kept_after_free()
applied = reuse_freed_memory()
kept, again = kept_after_free(), kept_after_free(50)
before = rss_mib()
release_freed_memory()
print(default, applied, kept, again, before - rss_mib())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_freed_memory_is_kept_for_reuse_then_released():
    """By default glibc unmaps a freed 256-MiB block at once (the next step faults it back in);
    after reuse_freed_memory() it stays resident and a later allocation reuses it, until
    release_freed_memory() (after every stage) gives it back."""
    out = subprocess.run([sys.executable, "-c", _RSS_AFTER_FREE], capture_output=True, text=True, check=True)
    default, applied, kept, again, released = out.stdout.split()
    assert float(default) < 16 and applied == "True"
    # kept, then reused by a smaller block rather than grown (the same size may not fit the hole
    # it left: the aligned allocation asks for a few bytes more than the block it got)
    assert float(kept) > 240 and abs(float(again)) < 16
    assert float(released) > 240


_HOLD = """
import sys, time
import numpy as np
block = np.ones(300 * 2**20 // 8)  # 300 MiB, touched
print("ready", flush=True)
time.sleep(float(sys.argv[1]))
"""


def test_peak_memory_sums_this_process_and_its_children():
    """A child holding 300 MiB while this process holds its own: the sampled peak is their sum
    (within what the child's interpreter adds), which getrusage's largest-process peak is not."""
    with PeakMemory(interval=0.05) as memory:
        me = memory.sample()
        child = subprocess.Popen([sys.executable, "-c", _HOLD, "1.0"], stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.3)
        both = memory.sample()
        child.wait()
    assert 300 <= both - me <= 300 + 120  # the child's array plus a bare numpy interpreter
    assert memory.peak_mb >= both
    time.sleep(0.1)
    assert memory.sample() < both - 250  # the child is gone from the sum


def test_freeze_long_lived_exempts_what_exists_and_still_collects_new_cycles():
    import gc
    import weakref

    from unlearn.memory import freeze_long_lived

    class Node:
        pass

    old = Node()
    old.self = old  # a cycle alive at the freeze: exempt from collection from then on
    try:
        freeze_long_lived()
        assert gc.get_freeze_count() > 0
        new = Node()
        new.self = new  # a cycle made after the freeze: collected as before
        gone, kept = weakref.ref(new), weakref.ref(old)
        del new, old
        gc.collect()
        assert gone() is None and kept() is not None
    finally:
        gc.unfreeze()
