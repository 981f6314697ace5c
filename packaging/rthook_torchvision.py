"""PyInstaller runtime hook: lets ``import torchvision`` work when its compiled ops cannot load.

The app uses torchvision only to read MNIST (``torchvision.datasets``), never its detection ops. A
torchvision wheel built against the CUDA torch (PyPI's, on Linux) cannot load its ``_C`` library
next to a CPU-only torch, and torchvision then fails at import ("operator torchvision::nms does not
exist"), because it registers fake kernels for ``nms``/``qnms`` unconditionally. So, on the first
import of torchvision: load ``_C`` if it loads; else declare those two operators' schemas (without
kernels: calling them fails, which the app never does) so that the import goes through.
With a matching torchvision (the CPU-index build.sh prefers on a user's machine) ``_C`` loads and this
does nothing else. Runs lazily: the app's start does not wait for torch.
"""

import sys

_libraries = []  # the Library object must live for the schemas to stay registered


def _declare_missing_ops() -> None:
    import glob
    import os

    import torch

    for lib_path in glob.glob(os.path.join(sys._MEIPASS, "torchvision", "_C.*")):
        try:
            torch.ops.load_library(lib_path)
            return
        except OSError:
            pass
    lib = torch.library.Library("torchvision", "DEF")
    for op in ("nms", "qnms"):
        lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _libraries.append(lib)


class _BeforeTorchvision:
    """A meta path finder that finds nothing: it only runs the above once, before torchvision loads."""

    def find_spec(self, name, path=None, target=None):
        if name == "torchvision":
            sys.meta_path.remove(self)
            try:
                _declare_missing_ops()
            except Exception:  # noqa: BLE001 - torchvision's own import then says what is wrong
                pass
        return None


sys.meta_path.insert(0, _BeforeTorchvision())
