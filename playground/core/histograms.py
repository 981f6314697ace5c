"""How training changes a network: histograms of each layer's weights and gradients.

A classifier run takes a snapshot ``HISTOGRAMS_PER_EPOCH`` times an epoch (:class:`HistogramSnapshot`,
in ``ClassifierTask.step``, right after the backward pass) and sends it as a ``histograms`` event
(core/events.py: ``HistogramsEvent``); the run folder logs it like any event. The work is a few
``torch.histc`` calls on the training device, queued without waiting for it: the figures are read
(one copy from the device) at the next progress report, when the trainer reads the losses anyway.

Readers: :func:`gradient_warnings` names dead, vanishing and exploding gradients in words;
:func:`heatmap` stacks a run's snapshots of one layer into a matrix (a heatmap over training, as
TensorBoard's distributions). Both take events read from a stranger's folder too: a malformed
event or layer is skipped, never a traceback.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from playground.core.events import (HISTOGRAM_GRAD_BINS, HISTOGRAM_GRAD_LOG10_RANGE, HISTOGRAM_WEIGHT_BINS,
                                    HISTOGRAMS_PER_EPOCH, MAX_HISTOGRAM_LAYERS, HistogramLayer)
from playground.core.spec import NetworkSpec

if TYPE_CHECKING:
    import torch

# Gradients whose root mean square is below this hardly move the weights (with SGD, an update of
# lr x 1e-7 is below what a float32 weight of about 0.05 can hold; Adam rescales them, until its
# eps of 1e-8 drowns them), above it they throw the weights around at each step. A healthy
# network's are about 1e-4 to 1e-1 (the presets, and the tests' networks, on MNIST).
VANISHING_GRAD_RMS = 1e-7
EXPLODING_GRAD_RMS = 10.0
# A layer with at least this share of its gradients exactly 0 hardly learns. A healthy one has far
# fewer: a first Linear on the image gets 0 for the pixels blank in every image of the batch (about
# half of them at a batch of 32), and ReLUs that never fire zero whole rows.
MOSTLY_DEAD_SHARE = 0.99

_CHUNK = 1 << 24  # float32 counts are exact up to 2**24: histograms of larger tensors go by chunks
# What a logged event may hold and still be drawn: a step that fits int64, weights whose span fits a float.
_MAX_STEP = 2 ** 63 - 1
_MAX_WEIGHT = 1e300


def snapshot_steps(steps_per_epoch: int, per_epoch: int) -> frozenset[int]:
    """The steps of an epoch (from 0) that take a snapshot: ``per_epoch`` evenly spaced ones, the
    first at step 0 (fewer in an epoch of fewer steps)."""
    return frozenset(k * steps_per_epoch // per_epoch for k in range(per_epoch)) if steps_per_epoch > 0 else frozenset()


def weighted_layers(model: torch.nn.Module, spec: NetworkSpec) -> list[tuple[int, str, list[torch.nn.Parameter]]]:
    """The layers with weights (index in the design, type, parameters), at most
    ``MAX_HISTOGRAM_LAYERS`` of them, evenly spread over the design (the first and last kept)."""
    found = []
    for index, (module, layer) in enumerate(zip(model, spec.layers)):
        params = [p for p in module.parameters() if p.numel()]
        if params:
            found.append((index, layer.type, params))
    n, keep = len(found), MAX_HISTOGRAM_LAYERS
    if n > keep:
        found = [found[round(k * (n - 1) / (keep - 1))] for k in range(keep)]
    return found


def _histc(tensors: list[torch.Tensor], bins: int, lo: float, hi: float) -> torch.Tensor:
    """Counts (int64, on the device) of the values of ``tensors`` in ``bins`` bins from lo to hi."""
    import torch

    total = None
    for t in tensors:
        for chunk in t.reshape(-1).split(_CHUNK):
            counts = torch.histc(chunk, bins=bins, min=lo, max=hi).long()
            total = counts if total is None else total + counts
    return total


def _layer_figures(params: list[torch.nn.Parameter]) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer's figures, left on the device: floats (lo, hi, sum of squared weights, of squared
    gradients) and whole numbers (weight counts, gradient counts, gradients exactly 0). A few passes
    over the parameters, in place where it can."""
    import torch

    weights = [p.detach().reshape(-1).float() for p in params]
    lo = torch.stack([w.min() for w in weights]).min()
    hi = torch.stack([w.max() for w in weights]).max()
    scale = 1.0 / (hi - lo).clamp_min(1e-30)  # all equal: every weight in the first bin
    weight_counts = _histc([(w - lo).mul_(scale) for w in weights], HISTOGRAM_WEIGHT_BINS, 0.0, 1.0)
    w_sq = sum(torch.dot(w, w) for w in weights)
    device = lo.device
    g_lo, g_hi = HISTOGRAM_GRAD_LOG10_RANGE
    # Made on the device (a scalar copied there would wait for the device's queue).
    zero = torch.zeros((), dtype=torch.long, device=device)
    g_sq = torch.zeros((), device=device)
    logs = []
    for p in params:
        if p.grad is None:
            continue
        magnitude = p.grad.detach().reshape(-1).float().abs()
        zero = zero + (magnitude == 0).sum()
        g_sq = g_sq + torch.dot(magnitude, magnitude)
        # log10|g| clamped into the range (NaN stays NaN, which histc skips); the zeros (-inf) land
        # in the first bin and are taken out of it below.
        logs.append(magnitude.log10_().clamp_(g_lo, g_hi))
    grad_counts = (_histc(logs, HISTOGRAM_GRAD_BINS, g_lo, g_hi) if logs
                   else torch.zeros(HISTOGRAM_GRAD_BINS, dtype=torch.long, device=device))
    grad_counts[0] -= zero
    zero = zero + sum(p.numel() for p in params if p.grad is None)  # no gradient: as good as all 0
    floats = torch.stack([lo, hi, w_sq, g_sq])
    return floats, torch.cat([weight_counts, grad_counts, zero.reshape(1).long()])


def _figure(value: float) -> float:
    """A float kept to 6 significant digits (the log's lines stay short)."""
    return float(f"{value:.6g}")


class HistogramSnapshot:
    """The histograms of a network's layers as they are now, computed on its device without waiting
    for it; :meth:`layers` reads them (then it waits)."""

    def __init__(self, model: torch.nn.Module, spec: NetworkSpec):
        import torch

        self._layers = []
        floats, ints = [], []
        with torch.no_grad():
            for index, kind, params in weighted_layers(model, spec):
                self._layers.append((index, kind, sum(p.numel() for p in params)))
                f, i = _layer_figures(params)
                floats.append(f)
                ints.append(i)
            self._floats = torch.stack(floats) if floats else None
            self._ints = torch.stack(ints) if ints else None

    def layers(self) -> list[HistogramLayer]:
        if self._floats is None:
            return []
        floats, ints = self._floats.double().tolist(), self._ints.tolist()
        nw, result = HISTOGRAM_WEIGHT_BINS, []
        for (index, kind, n), (lo, hi, w_sq, g_sq), counts in zip(self._layers, floats, ints):
            result.append(HistogramLayer(
                index=index, type=kind, weight_range=[_figure(lo), _figure(hi)], weight_counts=counts[:nw],
                grad_log10_range=list(HISTOGRAM_GRAD_LOG10_RANGE), grad_counts=counts[nw:-1], grad_zero=counts[-1],
                weight_rms=_figure(math.sqrt(w_sq / n)), grad_rms=_figure(math.sqrt(g_sq / n))))
        return result


def layer_histograms(model: torch.nn.Module, spec: NetworkSpec) -> list[HistogramLayer]:
    """The ``layers`` of a histograms event for ``model`` (built from ``spec``) as it is now: its
    weights and the gradients its parameters hold (those of the last backward pass; none count as 0)."""
    return HistogramSnapshot(model, spec).layers()


# -- reading the events back -----------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _range_ok(value: Any) -> bool:
    """A weight range [lo, hi]: finite, lo <= hi, and small enough that any two ranges' span is finite
    (a stranger's 1e308 would make NaN bin edges)."""
    return (isinstance(value, list) and len(value) == 2 and all(_is_finite(v) and abs(v) <= _MAX_WEIGHT for v in value)
            and value[0] <= value[1])


def _counts_ok(value: Any, bins: int) -> bool:
    return isinstance(value, list) and len(value) == bins and all(_is_int(v) and v >= 0 for v in value)


def _layer_ok(layer: Any) -> bool:
    """Whether ``layer`` is a histograms event's layer as documented (a stranger's log may hold
    anything)."""
    if not isinstance(layer, dict):
        return False
    wr, gr = layer.get("weight_range"), layer.get("grad_log10_range")
    return (_is_int(layer.get("index")) and layer["index"] >= 0 and isinstance(layer.get("type"), str)
            and _range_ok(wr)
            and gr == list(HISTOGRAM_GRAD_LOG10_RANGE)
            and _counts_ok(layer.get("weight_counts"), HISTOGRAM_WEIGHT_BINS)
            and _counts_ok(layer.get("grad_counts"), HISTOGRAM_GRAD_BINS)
            and _is_int(layer.get("grad_zero")) and layer["grad_zero"] >= 0
            and isinstance(layer.get("weight_rms"), (int, float)) and isinstance(layer.get("grad_rms"), (int, float)))


def _event_layers(event: Any) -> list[dict]:
    """A histograms event's well-formed layers ([] for anything else)."""
    if not (isinstance(event, dict) and event.get("type") == "histograms" and _is_int(event.get("step"))
            and 0 <= event["step"] <= _MAX_STEP
            and isinstance(event.get("layers"), list)):
        return []
    return [layer for layer in event["layers"] if _layer_ok(layer)]


def snapshot_layers(event: Any) -> list[dict]:
    """A histograms event's well-formed layers ([] for anything else)."""
    return _event_layers(event)


def histogram_snapshots(events: list[Any]) -> list[dict]:
    """The histograms events that can be drawn (a step that fits int64 and at least one well-formed
    layer), in order; malformed ones, and events of other types, left out."""
    return [event for event in events if _event_layers(event)]


def snapshot_positions(events: list[dict], index: int, steps_per_epoch: Any) -> tuple[np.ndarray, str]:
    """Where :func:`heatmap`'s snapshots of layer ``index`` lie on the x axis, and its unit: in epochs
    from the step and ``steps_per_epoch`` (from the run's log) when they agree with each event's own
    epoch; else from the events' epochs alone (evenly spread within each epoch); else in steps. A
    stranger's log may hold garbage in any of them."""
    rows = [event for event in events for layer in _event_layers(event) if layer["index"] == index]
    steps = np.array([event["step"] for event in rows], dtype=np.float64)
    epochs = [event.get("epoch") for event in rows]
    if not all(_is_int(e) and 1 <= e <= _MAX_STEP for e in epochs) or epochs != sorted(epochs):
        return steps, "step"
    spe = steps_per_epoch
    if _is_int(spe) and spe > 0 and all((e - 1) * spe < s <= e * spe for e, s in zip(epochs, steps)):
        return steps / spe, "epoch"
    x = np.zeros(len(rows))
    for epoch in set(epochs):
        at = [i for i, e in enumerate(epochs) if e == epoch]
        share = max(len(at), HISTOGRAMS_PER_EPOCH)
        x[at] = (epoch - 1) + (np.arange(len(at)) + 1) / share
    return x, "epoch"


def histogram_layers(events: list[dict]) -> list[tuple[int, str]]:
    """The layers (index, type) that a run's latest histograms event covers; [] without one."""
    for event in reversed(events):
        layers = _event_layers(event)
        if layers:
            return [(layer["index"], layer["type"]) for layer in layers]
    return []


def gradient_warnings(event: dict) -> list[str]:
    """What is wrong with the gradients in one histograms event, in words: a layer whose gradients
    are all exactly 0 (dead), too small to move its weights (vanishing) or huge (exploding); one
    line per layer named, [] when all is well."""
    warnings = []
    for layer in _event_layers(event):
        name = f"Layer {layer['index'] + 1} ({layer['type']})"
        total = sum(layer["grad_counts"]) + layer["grad_zero"]
        rms, weight = layer["grad_rms"], layer["weight_rms"]
        zero = layer["grad_zero"] / total if total else 0.0
        if zero == 1.0:
            warnings.append(f"{name}: all of its gradients are exactly 0, so it does not learn: no error "
                            f"signal gets back to it (often ReLUs after it that never fire, all their inputs "
                            f"negative). Try a smaller learning rate, LeakyReLU instead of ReLU, or batch "
                            f"normalisation before the ReLU.")
        elif zero >= MOSTLY_DEAD_SHARE:
            warnings.append(f"{name}: {zero:.1%} of its gradients are exactly 0, so it hardly learns: almost no "
                            f"error signal gets back to it (often ReLUs after it that never fire). Try a smaller "
                            f"learning rate, LeakyReLU instead of ReLU, or batch normalisation before the ReLU.")
        elif not math.isfinite(rms):
            warnings.append(f"{name}: its gradients are not finite ({rms}): the training has diverged. Try a "
                            f"learning rate ten times smaller.")
        elif rms < VANISHING_GRAD_RMS:
            cause = (f"its weights grew large (about {weight:.2g}) and saturate the units after it. Try a "
                     f"learning rate ten times smaller" if weight > 1.0 else
                     "the error signal fades on its way back through the layers after it. Try ReLU instead "
                     "of Sigmoid or Tanh, batch normalisation, or fewer layers")
            warnings.append(f"{name}: its gradients are about {rms:.0e}, too small to change its weights much: "
                            f"{cause}.")
        elif rms > EXPLODING_GRAD_RMS:
            warnings.append(f"{name}: its gradients are about {rms:.0e}, large enough to throw its weights "
                            f"(about {weight:.2g}) far off at each step: the error signal grows on its way "
                            f"back. Try a learning rate ten times smaller or batch normalisation.")
    return warnings


def _rebin(counts: list[int], lo: float, hi: float, edges: np.ndarray) -> np.ndarray:
    """Counts over ``len(counts)`` equal bins from lo to hi, moved onto the bins between ``edges``
    (each bin's count spread evenly over its width)."""
    counts_array = np.asarray(counts, dtype=np.float64)
    if hi <= lo:  # every value at lo
        out = np.zeros(len(edges) - 1)
        out[min(max(int(np.searchsorted(edges, lo, side="right")) - 1, 0), len(out) - 1)] = counts_array.sum()
        return out
    src = np.linspace(lo, hi, len(counts_array) + 1)
    cumulative = np.concatenate([[0.0], np.cumsum(counts_array)])
    return np.diff(np.interp(edges, src, cumulative))


def heatmap(events: list[dict], index: int, which: str = "weight") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A run's histograms of layer ``index`` over training: ``(matrix, y_edges, x_steps)``, with
    ``matrix[s, b]`` the count of snapshot ``s`` in bin ``b`` (float64, shape (snapshots, bins)),
    ``y_edges`` the bins' edges (bins + 1 values) and ``x_steps`` each snapshot's step in the run.
    ``which="weight"``: the weights, re-binned onto one range over the whole run (its smallest to its
    largest weight), ``HISTOGRAM_WEIGHT_BINS`` bins; ``"grad"``: log10|gradient| over -12 to 2 (the
    gradients exactly 0 are not in it: they are each layer's ``grad_zero``). Events of other types
    and malformed ones are skipped."""
    if which not in ("weight", "grad"):
        raise ValueError(f"which is 'weight' or 'grad', not {which!r}")
    rows = [(event["step"], layer) for event in events for layer in _event_layers(event) if layer["index"] == index]
    steps = np.array([step for step, _ in rows], dtype=np.int64)
    if which == "grad":
        edges = np.linspace(*HISTOGRAM_GRAD_LOG10_RANGE, HISTOGRAM_GRAD_BINS + 1)
        matrix = np.array([layer["grad_counts"] for _, layer in rows], dtype=np.float64)
        return matrix.reshape(len(rows), HISTOGRAM_GRAD_BINS), edges, steps
    lo = min((layer["weight_range"][0] for _, layer in rows), default=0.0)
    hi = max((layer["weight_range"][1] for _, layer in rows), default=0.0)
    if hi <= lo:
        pad = max(abs(lo) * 0.01, 1e-3)
        lo, hi = lo - pad, hi + pad
    edges = np.linspace(lo, hi, HISTOGRAM_WEIGHT_BINS + 1)
    matrix = np.array([_rebin(layer["weight_counts"], *layer["weight_range"], edges) for _, layer in rows],
                      dtype=np.float64)
    return matrix.reshape(len(rows), HISTOGRAM_WEIGHT_BINS), edges, steps
