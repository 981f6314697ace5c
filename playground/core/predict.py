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


class PredictionError(ValueError):
    """An image that gets no answer: blank (no ink), or the model's output is not a number."""


def _folder_test_accuracy(folder: Path) -> float | None:
    """The test accuracy a run folder's run.json records; None for a model folder or when unknown."""
    import contextlib
    import math

    from playground.core.runs import SUMMARY_FILE, _read_json

    with contextlib.suppress(OSError, ValueError, RecursionError, AttributeError):
        value = _read_json(folder / SUMMARY_FILE).get("test_accuracy")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None


_IMAGE_MAGIC = ((b"\x89PNG", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"), (b"BM", "BMP"),
                (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"RIFF", "WebP"))


def _refuse_an_image(path: Path) -> None:
    """``RunError`` if the file given as a model is an image (by its first bytes)."""
    try:
        with open(path, "rb") as f:
            start = f.read(12)
    except OSError:
        return  # the model file's reader says why
    kind = next((name for magic, name in _IMAGE_MAGIC if start.startswith(magic)), None)
    if kind == "WebP" and start[8:12] != b"WEBP":
        kind = None
    if kind is not None:
        raise RunError(f"{printable(path)} is an image ({kind}), not a model: give a run folder, model folder or "
                       f".pgmodel.safetensors file; to classify it, use `playground predict {printable(path)}` "
                       f"(or POST it to a server's /predict)")


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
        self.test_accuracy: float | None = None  # on its test set, where the run or model file says

    @classmethod
    def from_path(cls, path: str | Path | None = None) -> "Classifier":
        """A run folder (its best weights), a model folder (its design and ``MODEL_WEIGHTS``), a
        model file (.pgmodel.safetensors), or the bundled default model when ``path`` is None.
        ``RunError`` says what is wrong."""
        folder = Path(path) if path is not None else default_model_dir()
        if folder.is_file():
            _refuse_an_image(folder)
            from playground.core.export import ExportError, load_model_file, model_file_classes, model_file_preprocess

            try:
                spec, state, meta = load_model_file(folder)
            except ExportError as exc:
                raise RunError(str(exc)) from None
            from playground.core.export import _finite_accuracy

            classifier = cls(spec, state, str(folder), model_file_classes(meta, spec), model_file_preprocess(meta))
            classifier.test_accuracy = _finite_accuracy(meta.get("test_accuracy"))
            return classifier
        if not folder.exists():
            raise RunError(f"{folder}: no such file or folder; give a run folder, a model folder "
                           f"(with {DESIGN_FILE} and weights) or a model file")
        if not folder.is_dir():
            raise RunError(f"{folder}: not a folder; give a run folder or a model folder "
                           f"(with {DESIGN_FILE} and weights)")
        if not (folder / DESIGN_FILE).exists():
            raise RunError(f"{folder}: not a run folder or a model folder (no {DESIGN_FILE} in it); give a run "
                           f"folder, a model folder or a .pgmodel.safetensors file")
        try:
            spec = load_design(folder / DESIGN_FILE)
        except DesignError as exc:
            raise RunError(str(exc)) from None
        needed = _expected_weights(spec, folder)
        for name in (MODEL_WEIGHTS, BEST_WEIGHTS, LAST_WEIGHTS):
            if (folder / name).exists():
                classifier = cls(spec, load_weights(folder / name, needed), str(folder / name),
                                 run_classes(folder, spec), run_preprocess(folder))
                classifier.test_accuracy = _folder_test_accuracy(folder)
                return classifier
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

    def prepared(self, image: np.ndarray, name: str) -> np.ndarray:
        """:meth:`prepare`, with a blank image a ``PredictionError`` that names ``name``."""
        prepared = self.prepare(image)
        if prepared is None:
            raise PredictionError(f"{name}: no digit found (the image is blank)")
        return prepared

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities (n classes,) of a 28x28 image in [0, 1], white ink on black."""
        return self.batch_probabilities(np.asarray(image).reshape(1, 28, 28))[0]

    def batch_probabilities(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (N, n classes) of N 28x28 images in one forward pass.

        One image runs as a batch of two (itself twice): torch computes a single row along another
        path (a matrix-vector product) whose float rounding differs in the last bit, which would make
        an image's answer depend on how many others shared its forward pass (``playground serve``
        batches requests; ``predict`` and exported scripts take one image at a time)."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(images, np.float32)).reshape(-1, 1, 28, 28)
        with torch.inference_mode():
            return torch.softmax(self.model(torch.cat([x, x]) if len(x) == 1 else x), dim=1)[:len(x)].numpy()

    def answer_of(self, probabilities: np.ndarray, name: str) -> dict:
        """``playground predict --json``'s answer for one image's probabilities: ``{"digit", "label",
        "probabilities"}`` (rounded to 6 places); ``PredictionError`` if they are not numbers. The
        command line and ``playground serve`` both answer through here, so they cannot drift apart."""
        if not np.isfinite(probabilities).all():  # e.g. weights so large that the logits overflow
            raise PredictionError(f"{name}: the model's output is not a number (NaN): the model is broken; "
                                  f"retrain it or use another model")
        digit = int(probabilities.argmax())
        return {"digit": digit, "label": self.classes[digit],
                "probabilities": [round(float(p), 6) for p in probabilities]}

    def answer(self, image: np.ndarray, name: str) -> dict:
        """:meth:`answer_of` a greyscale image in [0, 1] (``load_image``'s); ``PredictionError`` if
        it is blank or the model's output is not a number."""
        return self.answer_of(self.probabilities(self.prepared(image, name)), name)
