"""Tests are fully offline (no hub look-ups, ever) and run on the CPU, also on a GPU machine: they
hand CPU models and tensors to code that runs on the accelerator's device, as CI has no GPU. (On
an H200 with the GPU visible, 12 of them failed on such cpu-vs-cuda mismatches, e.g. comparing
trained weights with a CPU copy; the pipeline itself ran there.) UNLEARN_TEST_GPU=1 leaves the
GPU visible."""
import os
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if os.environ.get("UNLEARN_TEST_GPU") != "1":
    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before anything initialises CUDA
sys.path.insert(0, str(Path(__file__).parent))  # tests import helpers.py
