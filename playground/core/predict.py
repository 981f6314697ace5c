"""Classifying single images with a trained model: the canvas, ``playground predict`` and export
checks all go through :class:`Classifier`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from playground.core import weights
from playground.core.paths import assets_dir
from playground.core.preprocess import PREPARATIONS, prepare
from playground.core.runs import (BEST_WEIGHTS, DESIGN_FILE, LAST_WEIGHTS, RunError, load_weights, run_classes,
                                  run_preprocess)
from playground.core.spec import DesignError, NetworkSpec, load_design
from playground.core.text import printable


MODEL_WEIGHTS = "weights.safetensors"  # a model folder's weights (a run folder has its best and last)


def default_model_dir() -> Path:
    """The model that ships with the app (assets/default_model), so drawing works before training."""
    return assets_dir() / "default_model"


def _expected_weights(spec: NetworkSpec, source: str | Path) -> weights.Layout:
    try:
        return weights.expected_weights(spec)
    except DesignError as exc:  # a shape problem, or over the memory budget
        raise RunError(f"{printable(source)}: {exc}") from None


class Classifier:
    """A model loaded once, in eval mode on the CPU. ``classes`` names its outputs: label i is
    ``classes[i]`` ("0".."9" for a model of MNIST digits, and for runs and model files from before
    class names)."""

    def __init__(self, spec: NetworkSpec, state: dict, source: str = "model", classes: list[str] | None = None,
                 preprocess: str = "mnist"):
        """``RunError`` if the design cannot be built (a shape problem, or over the memory budget) or
        the weights do not fit it; both are checked (on the ``meta`` device) before the model is
        allocated. The weights' values were checked when they were read. ``preprocess``: how the
        model was trained to see an image file (see :meth:`prepare`)."""
        from playground.core.build import build_model

        self.spec = spec
        self.source = source
        self.preprocess = preprocess if preprocess in PREPARATIONS else "mnist"
        fits = classes is not None and len(classes) == spec.num_classes
        self.classes: list[str] = list(classes) if fits else [str(i) for i in range(spec.num_classes)]
        needed = _expected_weights(spec, source)
        try:
            weights.check_fit(printable(source), weights.layout(state), needed)
        except weights.WeightsError as exc:
            raise RunError(str(exc)) from None
        self.model = build_model(spec).eval()
        self.model.load_state_dict(state)

    @classmethod
    def from_path(cls, path: str | Path | None = None) -> "Classifier":
        """A run folder (its best weights), a model folder (its design and ``MODEL_WEIGHTS``), a
        model file (.pgmodel.safetensors), or the bundled default model when ``path`` is None.
        ``RunError`` says what is wrong."""
        folder = Path(path) if path is not None else default_model_dir()
        if folder.is_file():
            from playground.core.export import ExportError, load_model_file, model_file_classes, model_file_preprocess

            try:
                spec, state, meta = load_model_file(folder)
            except ExportError as exc:
                raise RunError(str(exc)) from None
            return cls(spec, state, str(folder), model_file_classes(meta, spec), model_file_preprocess(meta))
        if not folder.exists():
            raise RunError(f"{folder}: no such file or folder; give a run folder, a model folder "
                           f"(with {DESIGN_FILE} and weights) or a model file")
        if not folder.is_dir():
            raise RunError(f"{folder}: not a folder; give a run folder or a model folder "
                           f"(with {DESIGN_FILE} and weights)")
        try:
            spec = load_design(folder / DESIGN_FILE)
        except DesignError as exc:
            raise RunError(str(exc)) from None
        needed = _expected_weights(spec, folder)
        for name in (MODEL_WEIGHTS, BEST_WEIGHTS, LAST_WEIGHTS):
            if (folder / name).exists():
                return cls(spec, load_weights(folder / name, needed), str(folder / name), run_classes(folder, spec),
                           run_preprocess(folder))
        raise RunError(f"{folder}: no weights ({MODEL_WEIGHTS} or {BEST_WEIGHTS})")

    @classmethod
    def from_weights_file(cls, spec: NetworkSpec, path: str | Path, source: str | None = None,
                          classes: list[str] | None = None) -> "Classifier":
        """``spec`` with the weights of a safetensors file, whose header is checked against the design
        before any weight is read (for the canvas following a run's last weights); ``classes`` None:
        those of the run folder the file is in."""
        path = Path(path)
        if classes is None:
            classes = run_classes(path.parent, spec)
        return cls(spec, load_weights(path, _expected_weights(spec, path)), source or str(path), classes,
                   run_preprocess(path.parent))

    def prepare(self, image: np.ndarray) -> np.ndarray | None:
        """The 28x28 input of a greyscale image in [0, 1] (``load_image``'s), prepared as this model was
        trained (:func:`~playground.core.preprocess.prepare`); None when there is no ink."""
        return prepare(image, self.preprocess)

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities (n classes,) of a 28x28 image in [0, 1], white ink on black."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(image, np.float32)).reshape(1, 1, 28, 28)
        with torch.inference_mode():
            return torch.softmax(self.model(x), dim=1)[0].numpy()
