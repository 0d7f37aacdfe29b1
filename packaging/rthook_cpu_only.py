"""PyInstaller runtime hook: the bundle is CPU-only.

The CUDA libraries torch links against are replaced by empty stubs in this build (see
packaging/cuda_stubs.py), so CUDA must never be initialised: hiding every GPU makes
torch.cuda.is_available() False and keeps the app's "auto" device on the CPU.
"""
import os

os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ.setdefault("TORCHINDUCTOR_DISABLE", "1")
