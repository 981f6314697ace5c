"""What happens inside a classifier for one image: every layer's output, which pixels the guess rests
on (saliency, checked by a deletion test), the first layer's learned filters, and where the
penultimate layer puts images (a 2-D PCA map).

Models are the ``nn.Sequential`` of :func:`playground.core.build.build_model` (one module per
``spec.layers`` entry), in eval mode, on the CPU. Images are 28x28 floats in [0, 1], white ink on
black, as :mod:`playground.core.preprocess` makes them.

Saliency methods:

- ``"gradient-x-input"``: each pixel's value times the gradient of the target's log-odds
  (``log p / (1 - p)``, the target's logit against the log-sum-exp of the others' logits) with respect
  to it: the first-order share of each pixel in the evidence for the target. The log-odds, unlike
  ``log p``, does not saturate when the model is sure (``p`` rounding to 1 would make every gradient of
  ``log p`` exactly 0), and unlike the bare logit it counts evidence for the other classes against
  the target. One forward and one backward pass.
- ``"grad-cam"`` (designs with a Conv2d layer): Selvaraju et al.'s Grad-CAM on the last image-shaped
  output at or after the last Conv2d layer, each of its cells placed on the input pixel its receptive
  field is centred on (linearly in between, held at the borders), so a map of a convolution without
  padding lines up with the digit.
- ``"gradient"`` and ``"gradient-magnitude"`` (:data:`COMPARISON_METHODS`, for the deletion benchmark,
  not offered in the app): the plain gradient of the log-odds, signed, and its absolute value (the
  classic "vanilla gradient" saliency map).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from playground.core.shapes import infer_shapes
from playground.core.spec import NetworkSpec

SALIENCY_METHODS = ("gradient-x-input", "grad-cam")
SALIENCY_LABELS = {"gradient-x-input": "Gradient x input", "grad-cam": "Grad-CAM", "gradient": "Gradient",
                   "gradient-magnitude": "Gradient magnitude"}
COMPARISON_METHODS = ("gradient", "gradient-magnitude")  # for the deletion benchmark, not offered in the app
_ALL_METHODS = (*SALIENCY_METHODS, *COMPARISON_METHODS)
INK_LEVEL = 0.1  # a pixel at least this bright is ink, for the deletion test
RECURRENT_TYPES = ("RNN", "LSTM", "GRU")
# Layers that keep each pixel where it was (so a Linear layer after only these sees the image itself).
_PIXELWISE = ("Flatten", "Dropout", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU")


@dataclass(frozen=True)
class LayerOutput:
    index: int  # position in spec.layers
    type: str  # layer type name, e.g. "Conv2d"
    shape: tuple[int, ...]  # one image's output shape == infer_shapes(spec).rows[index].out_shape
    values: np.ndarray  # float32 array of exactly that shape
    steps: np.ndarray | None = None  # recurrent layers only: (row steps, hidden x directions)


@dataclass(frozen=True)
class Explanation:
    probabilities: np.ndarray  # (n_classes,)
    outputs: list[LayerOutput]  # one per layer of the design, in order (empty without with_outputs)
    target: int  # class the saliency is for
    method: str
    saliency: np.ndarray  # (28, 28) float32; positive = evidence FOR target


@dataclass(frozen=True)
class DeletionResult:
    """Per image, the predicted class's probability drop when the most salient ink pixels are zeroed
    and when as many random ink pixels are zeroed (the mean of ``repeats`` random draws)."""

    method: str
    fraction: float
    salient_drops: np.ndarray
    random_drops: np.ndarray

    @property
    def mean_salient(self) -> float:
        return float(self.salient_drops.mean()) if len(self.salient_drops) else 0.0

    @property
    def mean_random(self) -> float:
        return float(self.random_drops.mean()) if len(self.random_drops) else 0.0

    @property
    def ratio(self) -> float:
        """How many times more the salient pixels' removal hurts than random removal (inf if random
        removal did not hurt at all)."""
        if self.mean_random <= 0:
            return float("inf") if self.mean_salient > 0 else 0.0
        return self.mean_salient / self.mean_random

    def passes(self, min_ratio: float = 3.0, min_drop: float = 0.4) -> bool:
        return self.ratio >= min_ratio and self.mean_salient >= min_drop


@dataclass(frozen=True)
class LearnedFilters:
    index: int  # the spec layer
    type: str
    kind: str  # "conv" or "linear"
    images: np.ndarray  # (n, h, w) float32: one filter or one unit's 28x28 weight template each
    caption: str


# -- running the model --------------------------------------------------------------------------


def _batch(spec: NetworkSpec, images) -> "torch.Tensor":  # noqa: F821
    import torch

    a = np.ascontiguousarray(images, np.float32)
    return torch.from_numpy(a).reshape(-1, *spec.input_shape)


def _forward(model, x, record: bool, keep: int | None = None):
    """Logits of batch ``x`` through the Sequential, one module at a time; with ``record``, every
    layer's output (and each recurrent layer's whole sequence); else only layer ``keep``'s output (for
    Grad-CAM)."""
    outputs, sequences = [], {}
    h = x
    for i, module in enumerate(model):
        rnn = getattr(module, "rnn", None)
        if record and rnn is not None:
            handle = rnn.register_forward_hook(lambda _m, _i, out, i=i: sequences.__setitem__(i, out[0]))
            try:
                h = module(h)
            finally:
                handle.remove()
        else:
            h = module(h)
        if record or i == keep:
            outputs.append(h)
    return h, outputs, sequences


def layer_outputs(model, spec: NetworkSpec, image) -> tuple[np.ndarray, list[LayerOutput]]:
    """The class probabilities of one image and every layer's output for it (no gradients)."""
    import torch

    with torch.inference_mode():
        logits, outputs, sequences = _forward(model, _batch(spec, image), record=True)
        probs = torch.softmax(logits, dim=1)[0].numpy()
    return probs, _layer_list(spec, outputs, sequences)


def _layer_list(spec: NetworkSpec, outputs, sequences) -> list[LayerOutput]:
    result = []
    for i, (layer, h) in enumerate(zip(spec.layers, outputs)):
        values = h[0].detach().numpy().astype(np.float32, copy=True)
        steps = sequences.get(i)
        steps = None if steps is None else steps[0].detach().numpy().astype(np.float32, copy=True)
        result.append(LayerOutput(i, layer.type, tuple(values.shape), values, steps))
    return result


# -- saliency -----------------------------------------------------------------------------------


def grad_cam_available(spec: NetworkSpec) -> bool:
    """Whether Grad-CAM applies: the design has a Conv2d layer."""
    return grad_cam_layer(spec) is not None


def grad_cam_layer(spec: NetworkSpec) -> int | None:
    """The layer Grad-CAM reads: the last image-shaped output in the run of image-shaped outputs that
    starts at the last Conv2d layer (its activation and pooling included); None without Conv2d."""
    convs = [i for i, layer in enumerate(spec.layers) if layer.type == "Conv2d"]
    if not convs:
        return None
    rows = infer_shapes(spec).rows
    chosen = convs[-1]
    for row in rows[convs[-1]:]:
        if row.out_shape is None or len(row.out_shape) != 3:
            break
        chosen = row.index
    return chosen


def _log_odds(logits, targets):
    """log(p / (1 - p)) of each row's target class, computed without saturating."""
    import torch

    chosen = logits.gather(1, targets[:, None])[:, 0]
    others = logits.scatter(1, targets[:, None], float("-inf"))
    return chosen - torch.logsumexp(others, dim=1)


def _check_method(spec: NetworkSpec, method: str) -> int | None:
    """The layer Grad-CAM reads for ``method`` (None for the other methods); ``ValueError`` for an
    unknown method, or Grad-CAM on a design without Conv2d."""
    if method not in _ALL_METHODS:
        raise ValueError(f"unknown saliency method {method!r}; choose one of: {', '.join(_ALL_METHODS)}")
    if method != "grad-cam":
        return None
    cam = grad_cam_layer(spec)
    if cam is None:
        raise ValueError("Grad-CAM needs a design with a Conv2d layer")
    return cam


def _graph_forward(model, spec: NetworkSpec, x, method: str, record: bool):
    """A forward pass that keeps the graph for :func:`_maps`: (input, logits, outputs, sequences,
    the Grad-CAM layer's output or None)."""
    import torch

    cam = _check_method(spec, method)
    with torch.enable_grad():
        x = x.detach().clone().requires_grad_(True)
        logits, outputs, sequences = _forward(model, x, record, keep=cam)
    kept = None if cam is None else outputs[cam if record else 0]
    return x, logits, outputs, sequences, kept


def _maps(spec: NetworkSpec, x, logits, kept, targets, method: str) -> np.ndarray:
    """(n, 28, 28) saliency of a batch from its forward pass, with one backward pass (images are
    independent in eval mode, so the sum's gradient is each image's own). ``autograd.grad``, not
    ``backward()``: the model's own ``.grad`` stay untouched and only the gradients needed are made."""
    import torch

    targets = torch.as_tensor(targets, dtype=torch.long).reshape(-1)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(_log_odds(logits, targets).sum(), x if kept is None else kept)
    if method == "grad-cam":
        return _grad_cam_maps(kept.detach(), grad, x.shape[-2:], receptive_field_centres(spec, grad_cam_layer(spec)))
    grad = grad.reshape(len(x), *x.shape[-2:])
    if method == "gradient-x-input":
        grad = grad * x.detach().reshape_as(grad)
    elif method == "gradient-magnitude":
        grad = grad.abs()
    return grad.numpy().astype(np.float32, copy=False)


def _saliency_batch(model, spec: NetworkSpec, x, targets, method: str) -> np.ndarray:
    x, logits, _, _, kept = _graph_forward(model, spec, x, method, record=False)
    return _maps(spec, x, logits, kept, targets, method)


# Layers that keep each pixel where it was, for the receptive fields of Grad-CAM's cells.
_IMAGE_PIXELWISE = ("BatchNorm", "Dropout", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU")


def receptive_field_centres(spec: NetworkSpec, index: int) -> tuple[float, float] | None:
    """Where the cells of layer ``index``'s output are centred on the input image: ``(start, jump)``,
    cell ``j``'s receptive field centred on input pixel ``start + j * jump`` (pixel ``p`` centred at
    ``p``), the same along both axes (square kernels, strides and paddings). From each Conv2d,
    ConvTranspose2d, MaxPool2d and AvgPool2d's kernel, stride and padding; None when a layer before
    it moves pixels some other way (an Unflatten of a Linear's output)."""
    start, jump = 0.0, 1.0
    for layer in spec.layers[:index + 1]:
        p = layer.params
        if layer.type in ("Conv2d", "MaxPool2d", "AvgPool2d"):
            k = p["kernel_size"]
            stride = p["stride"] or k  # a pool's stride 0 is its window
            start, jump = start + ((k - 1) / 2 - p["padding"]) * jump, jump * stride
        elif layer.type == "ConvTranspose2d":
            k, stride = p["kernel_size"], p["stride"]
            start, jump = start + (p["padding"] - (k - 1) / 2) / stride * jump, jump / stride
        elif layer.type not in _IMAGE_PIXELWISE:
            return None
    return start, jump


def _resample_matrix(cells: int, pixels: int, start: float, jump: float):
    """(pixels, cells) weights that interpolate linearly between cells centred at ``start + j * jump``
    onto the pixel centres 0..pixels-1, held at the first and last cell beyond them."""
    import torch

    u = ((torch.arange(pixels, dtype=torch.float64) - start) / jump).clamp(0, cells - 1)
    low = u.floor().long().clamp(max=cells - 1)
    high = (low + 1).clamp(max=cells - 1)
    frac = u - low
    weights = torch.zeros(pixels, cells, dtype=torch.float64)
    weights[torch.arange(pixels), low] += 1 - frac
    weights[torch.arange(pixels), high] += frac
    return weights.float()


def _grad_cam_maps(activation, grad, size, centres: tuple[float, float] | None = None) -> np.ndarray:
    """Grad-CAM of a batch, placed on the input's pixels: each cell at its receptive field's centre
    (``centres``, from :func:`receptive_field_centres`), linearly in between; without them, stretched
    over the image."""
    import torch

    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * activation).sum(dim=1, keepdim=True))
    if centres is None:
        cam = torch.nn.functional.interpolate(cam, size=tuple(size), mode="bilinear", align_corners=False)
        return cam[:, 0].numpy().astype(np.float32, copy=False)
    rows = _resample_matrix(cam.shape[2], int(size[0]), *centres)
    cols = _resample_matrix(cam.shape[3], int(size[1]), *centres)
    return (rows @ cam[:, 0] @ cols.T).numpy().astype(np.float32, copy=False)


def saliency(model, spec: NetworkSpec, image, target: int, method: str = "gradient-x-input") -> np.ndarray:
    """(28, 28) float32 map of how much each pixel speaks for class ``target``: positive = evidence
    for it (Grad-CAM is never negative). One forward and one backward pass."""
    return _saliency_batch(model, spec, _batch(spec, image), [int(target)], method)[0]


def explain(model, spec: NetworkSpec, image, target: int | None = None, method: str = "gradient-x-input",
            with_outputs: bool = True) -> Explanation:
    """Probabilities, every layer's output (with ``with_outputs``) and the saliency for ``target``
    (None: the guessed class) of one image, from one forward and one backward pass."""
    import torch

    x, logits, outputs, sequences, kept = _graph_forward(model, spec, _batch(spec, image), method, with_outputs)
    probs = torch.softmax(logits.detach(), dim=1)[0].numpy()
    target = int(np.argmax(probs)) if target is None else int(target)
    if not 0 <= target < len(probs):
        raise ValueError(f"target class {target} is not one of 0..{len(probs) - 1}")
    layers = _layer_list(spec, outputs, sequences) if with_outputs else []
    return Explanation(probs, layers, target, method, _maps(spec, x, logits, kept, [target], method)[0])


# -- deletion test ------------------------------------------------------------------------------


def deletion_test(model, spec: NetworkSpec, images, fraction: float = 0.25, seed: int = 0,
                  method: str = "gradient-x-input", repeats: int = 5) -> DeletionResult:
    """Zero the top ``fraction`` of each image's ink pixels (at least :data:`INK_LEVEL`) by saliency
    for the predicted class, and separately as many random ink pixels (``repeats`` draws, averaged);
    the drops of the predicted class's probability. A faithful saliency hurts far more."""
    import torch

    x = _batch(spec, images)
    n = len(x)
    flat = x.reshape(n, -1).numpy()
    with torch.inference_mode():
        probs = torch.softmax(model(x), dim=1).numpy()
    predicted = probs.argmax(1)
    maps = _saliency_batch(model, spec, x, predicted, method).reshape(n, -1)
    rng = np.random.default_rng(seed)
    salient, randomised = [], []
    for i in range(n):
        ink = np.flatnonzero(flat[i] >= INK_LEVEL)
        k = int(round(fraction * len(ink)))
        # Ties (Grad-CAM's flat regions) broken at random, not by pixel order.
        order = np.lexsort((rng.random(len(ink)), -maps[i, ink]))
        salient.append(_zeroed(flat[i], ink[order[:k]]))
        randomised.extend(_zeroed(flat[i], rng.choice(ink, k, replace=False)) for _ in range(repeats))
    with torch.inference_mode():
        p_salient = torch.softmax(model(_batch(spec, np.stack(salient))), dim=1).numpy()
        p_random = torch.softmax(model(_batch(spec, np.stack(randomised))), dim=1).numpy()
    rows = np.arange(n)
    before = probs[rows, predicted]
    salient_drops = before - p_salient[rows, predicted]
    random_drops = before - p_random.reshape(n, repeats, -1)[rows, :, predicted].mean(1)
    return DeletionResult(method, fraction, salient_drops.astype(np.float32), random_drops.astype(np.float32))


def _zeroed(flat_image: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    out = flat_image.copy()
    out[pixels] = 0.0
    return out


# -- what the first layer learned ---------------------------------------------------------------


def _first_weighted(spec: NetworkSpec) -> int | None:
    for i, layer in enumerate(spec.layers):
        if layer.type in ("Conv2d", "Linear", *RECURRENT_TYPES):
            return i
    return None


def first_layer_note(spec: NetworkSpec) -> str:
    """Why :func:`first_layer_weights` has no images for this design ("" when it has)."""
    i = _first_weighted(spec)
    if i is None:
        return "The design has no Conv2d, Linear or recurrent layer, so there are no filters to show."
    layer = spec.layers[i]
    name = f"Layer {i + 1} ({layer.type})"
    if layer.type in RECURRENT_TYPES:
        return (f"{name} reads the image row by row: each weight belongs to a whole row of 28 pixels "
                f"and to the state carried between rows, so its weights are not pictures of the image.")
    if layer.type == "Linear":
        before = [s.type for s in spec.layers[:i] if s.type not in _PIXELWISE]
        if before:
            return (f"{name} does not see the image itself but the output of "
                    f"{', '.join(dict.fromkeys(before))}, so its weights are not 28x28 templates.")
    return ""


def first_layer_weights(spec: NetworkSpec, state_dict) -> LearnedFilters | None:
    """The first layer's learned filters (Conv2d: one image per filter, averaged over input channels
    when there are several) or weight templates (Linear on the flattened image: one 28x28 image per
    unit); None, with :func:`first_layer_note` saying why, for anything else."""
    i = _first_weighted(spec)
    if i is None or first_layer_note(spec):
        return None
    layer = spec.layers[i]
    weight = state_dict[f"{i}.weight"]
    w = np.asarray(weight.detach().cpu().numpy() if hasattr(weight, "detach") else weight, np.float32)
    if layer.type == "Conv2d":
        images = w.mean(axis=1) if w.shape[1] > 1 else w[:, 0]
        averaged = f", averaged over {w.shape[1]} input channels" if w.shape[1] > 1 else ""
        caption = (f"Layer {i + 1} (Conv2d): {len(images)} filters of {images.shape[1]}x{images.shape[2]}"
                   f"{averaged}; bright = positive weight, dark = negative")
        return LearnedFilters(i, layer.type, "conv", np.ascontiguousarray(images), caption)
    _, h, wd = spec.input_shape
    images = w.reshape(len(w), h, wd)
    caption = (f"Layer {i + 1} (Linear): {len(images)} units, each a {h}x{wd} template of its weights on "
               f"the image's pixels; bright = positive weight, dark = negative")
    return LearnedFilters(i, layer.type, "linear", np.ascontiguousarray(images), caption)


# -- where it puts things -----------------------------------------------------------------------


def penultimate_layer(spec: NetworkSpec) -> int:
    """The layer whose input is the penultimate representation: the last Linear layer (the last
    layer if there is none)."""
    linear = [i for i, layer in enumerate(spec.layers) if layer.type == "Linear"]
    return linear[-1] if linear else len(spec.layers) - 1


def penultimate_features(model, spec: NetworkSpec, images, batch_size: int = 500) -> np.ndarray:
    """(n, features) float32: the input of :func:`penultimate_layer` for each image (floats in [0, 1]
    or uint8), flattened."""
    import torch

    a = np.asarray(images)
    a = a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32, copy=False)
    stop = penultimate_layer(spec)
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(a), batch_size):
            h = _batch(spec, a[start:start + batch_size])
            for module in list(model)[:stop]:
                h = module(h)
            chunks.append(h.reshape(len(h), -1).numpy().astype(np.float32, copy=True))
    return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)


class FeatureMap:
    """Where the network puts things: the first two principal components of the penultimate features
    of some images (``points``, coloured by ``labels``), and any new image projected on the same
    axes, from the same centre."""

    def __init__(self, model, spec: NetworkSpec, centre: np.ndarray, basis: np.ndarray,
                 points: np.ndarray, labels: np.ndarray, explained: np.ndarray):
        self.model, self.spec = model, spec
        self.centre, self.basis = centre, basis  # (features,), (features, 2)
        self.points, self.labels = points, labels  # (n, 2) float32, (n,)
        self.explained = explained  # (2,): the share of the features' variance along each axis

    @classmethod
    def fit(cls, model, spec: NetworkSpec, images_uint8, labels) -> "FeatureMap":
        import torch

        features = torch.from_numpy(penultimate_features(model, spec, images_uint8))
        centre = features.mean(dim=0)
        centred = features - centre
        q = min(6, *centred.shape)
        with torch.random.fork_rng(devices=[]):  # pca_lowrank is randomised: same map every time
            torch.manual_seed(0)
            _, s, v = torch.pca_lowrank(centred, q=q, center=False, niter=4)
        basis = torch.zeros(centred.shape[1], 2)
        basis[:, :min(2, q)] = v[:, :2]
        # A sign that does not depend on the random start: each axis points to its largest loading.
        signs = torch.sign(basis.gather(0, basis.abs().argmax(0, keepdim=True)))
        basis = basis * torch.where(signs == 0, torch.ones_like(signs), signs)
        total = float((centred ** 2).sum()) or 1.0
        explained = np.zeros(2, np.float32)
        explained[:min(2, q)] = (s[:2] ** 2).numpy() / total
        points = (centred @ basis).numpy().astype(np.float32)
        return cls(model, spec, centre.numpy(), basis.numpy(), points, np.asarray(labels).copy(), explained)

    def project(self, image) -> tuple[float, float]:
        """The point of one image (28x28 floats in [0, 1]) on the map."""
        features = penultimate_features(self.model, self.spec, np.asarray(image, np.float32)[None])[0]
        x, y = (features - self.centre) @ self.basis
        return float(x), float(y)
