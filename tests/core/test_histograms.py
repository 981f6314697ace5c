"""Weight and gradient histograms over training (core/histograms.py), on runs over real MNIST images:
four snapshots an epoch with every parameter counted once, a dead layer built on purpose named in
words (and a healthy network not), heatmaps over a run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from playground.core import NetworkSpec
from playground.core import make_layer as L
from playground.core.build import build_model
from playground.core.config import TrainConfig
from playground.core.data import load_dataset
from playground.core.events import (HISTOGRAM_GRAD_BINS, HISTOGRAM_WEIGHT_BINS, HISTOGRAMS_PER_EPOCH,
                                    MAX_HISTOGRAM_LAYERS)
from playground.core.histograms import (gradient_warnings, heatmap, histogram_layers, histogram_snapshots,
                                        layer_histograms, snapshot_positions)
from playground.core.objective import to_input
from playground.core.runs import read_events
from playground.core.train import Trainer

# Linear layers at 1, 3 and 5; the ReLU at 4 follows the Linear at 3.
DEEP = NetworkSpec((L("Flatten"), L("Linear", out_features=64), L("ReLU"), L("Linear", out_features=32), L("ReLU"),
                    L("Linear", out_features=10)), name="deep-mlp")
CNN = NetworkSpec((L("Conv2d", out_channels=8, kernel_size=5), L("MaxPool2d"), L("BatchNorm"), L("ReLU"),
                   L("Flatten"), L("Linear", out_features=10)), name="tiny-cnn")


@pytest.fixture(scope="module")
def small():
    """480 training, 120 validation and 200 test images of the real MNIST."""
    return load_dataset("mnist", val_fraction=0.2, seed=0, limit=600, test_limit=200)


def config(**kw) -> TrainConfig:
    base = dict(optimizer="adam", lr=0.003, batch_size=32, epochs=2, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def histograms(events):
    return [e for e in events if e["type"] == "histograms"]


def parameter_counts(spec):
    model = build_model(spec)
    return {i: sum(p.numel() for p in m.parameters()) for i, m in enumerate(model) if sum(1 for _ in m.parameters())}


def dead_state(seed=0):
    """DEEP's weights with the bias of its middle Linear so negative that the ReLU after it never fires:
    nothing gets back to the layers before it, so their gradients are all exactly 0."""
    torch.manual_seed(seed)
    model = build_model(DEEP)
    with torch.no_grad():
        model[3].bias.fill_(-1e4)
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def healthy_run(small, tmp_path_factory):
    folder = tmp_path_factory.mktemp("healthy") / "run"
    events = list(Trainer(DEEP, config(), data=small, run_dir=folder, report_interval=0.0).run())
    return events, folder


def test_four_snapshots_an_epoch_each_counting_every_parameter_once(healthy_run):
    events, folder = healthy_run
    start, snaps = events[0], histograms(events)
    assert start["steps_per_epoch"] == 15 and len(snaps) == 2 * HISTOGRAMS_PER_EPOCH == 8
    # Evenly spaced steps, the first at the epoch's first step; each sent right after its step's report.
    assert [e["step"] for e in snaps] == [1, 4, 8, 12, 16, 19, 23, 27]
    assert [e["epoch"] for e in snaps] == [1] * 4 + [2] * 4
    for e in snaps:
        before = events[events.index(e) - 1]
        assert before["type"] == "progress" and before["step"] == e["step"]
    counts = parameter_counts(DEEP)
    for e in snaps:
        assert set(e) == {"type", "epoch", "step", "layers"}
        assert [(layer["index"], layer["type"]) for layer in e["layers"]] == [(1, "Linear"), (3, "Linear"),
                                                                              (5, "Linear")]
        for layer in e["layers"]:
            n = counts[layer["index"]]
            assert len(layer["weight_counts"]) == HISTOGRAM_WEIGHT_BINS and sum(layer["weight_counts"]) == n
            assert len(layer["grad_counts"]) == HISTOGRAM_GRAD_BINS
            assert sum(layer["grad_counts"]) + layer["grad_zero"] == n
            assert layer["grad_log10_range"] == [-12.0, 2.0]
            lo, hi = layer["weight_range"]
            assert lo < 0 < hi and 0 < layer["weight_rms"] < max(-lo, hi)
            assert 1e-6 < layer["grad_rms"] < 1.0
    assert sum(counts.values()) == start["parameters"]
    # Logged like any event, and a line of the log stays a few kB (its limit is 64 kB).
    assert histograms(read_events(folder)) == snaps
    assert max(len(json.dumps(e)) for e in snaps) < 4000
    assert histogram_layers(events) == [(1, "Linear"), (3, "Linear"), (5, "Linear")]


def test_the_first_snapshot_holds_the_starting_weights_and_their_first_gradients(small):
    state = dead_state(seed=1)
    with torch.no_grad():
        state["3.bias"].zero_()  # a healthy start, known exactly
    events = list(Trainer(DEEP, config(epochs=1), data=small, initial_state=state, report_interval=1e9).run())
    first = histograms(events)[0]
    for layer in first["layers"]:
        i = layer["index"]
        values = torch.cat([state[f"{i}.weight"].reshape(-1), state[f"{i}.bias"]])
        assert layer["weight_range"] == pytest.approx([values.min().item(), values.max().item()], rel=1e-5)
        assert layer["weight_rms"] == pytest.approx(values.square().mean().sqrt().item(), rel=1e-5)


def test_layer_histograms_agree_with_numpy(small):
    torch.manual_seed(0)
    model = build_model(CNN)
    x, y = to_input(small.train.images[:64], "cpu"), small.train.labels[:64]
    torch.nn.functional.cross_entropy(model(x), y).backward()
    layers = layer_histograms(model, CNN)
    assert [(layer["index"], layer["type"]) for layer in layers] == [(0, "Conv2d"), (2, "BatchNorm"), (5, "Linear")]
    for layer in layers:
        params = list(model[layer["index"]].parameters())
        w = np.concatenate([p.detach().numpy().ravel() for p in params]).astype(np.float64)
        g = np.concatenate([p.grad.numpy().ravel() for p in params]).astype(np.float64)
        expected, _ = np.histogram(w, bins=HISTOGRAM_WEIGHT_BINS, range=(w.min(), w.max()))
        # The same counts, give or take a value on a bin's edge (float32 against float64 arithmetic).
        assert np.abs(np.array(layer["weight_counts"]) - expected).sum() <= 2
        assert layer["grad_zero"] == int((g == 0).sum())
        logs = np.clip(np.log10(np.abs(g[g != 0])), -12, 2)
        expected, _ = np.histogram(logs, bins=HISTOGRAM_GRAD_BINS, range=(-12, 2))
        assert np.abs(np.array(layer["grad_counts"]) - expected).sum() <= 2
        assert layer["grad_rms"] == pytest.approx(np.sqrt(np.mean(g ** 2)), rel=1e-4)
    # Before any backward pass there are no gradients: every one counts as 0.
    fresh = layer_histograms(build_model(CNN), CNN)
    assert all(layer["grad_zero"] == sum(layer["weight_counts"]) and layer["grad_rms"] == 0 for layer in fresh)


def test_a_dead_layer_built_on_purpose_is_named_and_a_healthy_network_is_not(small, healthy_run):
    events = list(Trainer(DEEP, config(), data=small, initial_state=dead_state(), report_interval=0.0).run())
    snaps = histograms(events)
    assert len(snaps) == 8
    for e in snaps:
        zero = {layer["index"]: layer["grad_zero"] == sum(layer["weight_counts"]) for layer in e["layers"]}
        assert zero == {1: True, 3: True, 5: False}  # the last layer's bias still learns
        warnings = gradient_warnings(e)
        assert len(warnings) == 2
        assert warnings[0].startswith("Layer 2 (Linear): all of its gradients are exactly 0, so it does not learn")
        assert warnings[1].startswith("Layer 4 (Linear): all of its gradients are exactly 0")
        assert "Try a smaller learning rate, LeakyReLU instead of ReLU" in warnings[1]
    # The dead network does not learn; the healthy one, trained alike, does and gets no warning.
    assert events[-1]["test_accuracy"] < 0.3
    healthy, _ = healthy_run
    assert healthy[-1]["test_accuracy"] > 0.7
    assert all(gradient_warnings(e) == [] for e in histograms(healthy))
    cnn = list(Trainer(CNN, config(epochs=1), data=small, report_interval=0.0).run())
    assert len(histograms(cnn)) == 4 and all(gradient_warnings(e) == [] for e in histograms(cnn))
    # `playground train` says each warning once, under the epoch it was first seen in.
    import io

    from playground.cli.train import ProgressPrinter

    out = io.StringIO()
    show = ProgressPrinter(out)
    for event in events:
        show(event)
    lines = out.getvalue().splitlines()
    said = [line for line in lines if line.startswith("  warning: ")]
    assert [line[len("  warning: "):] for line in said] == gradient_warnings(snaps[0])
    assert lines.index(said[0]) == 2  # training on ..., epoch 1 ..., then the warnings


def test_vanishing_and_exploding_gradients_are_named_in_words(healthy_run):
    events, _ = healthy_run
    event = histograms(events)[0]
    layer = event["layers"][1]

    def with_layer(**changes):
        return {**event, "layers": [{**layer, **changes}]}

    assert gradient_warnings(with_layer()) == []
    [vanishing] = gradient_warnings(with_layer(grad_rms=1e-8))
    assert vanishing.startswith("Layer 4 (Linear): its gradients are about 1e-08, too small to change its weights much")
    assert "Try ReLU instead of Sigmoid or Tanh" in vanishing
    [saturated] = gradient_warnings(with_layer(grad_rms=1e-9, weight_rms=5.4))
    assert "its weights grew large (about 5.4)" in saturated and "learning rate ten times smaller" in saturated
    [exploding] = gradient_warnings(with_layer(grad_rms=300.0))
    assert exploding.startswith("Layer 4 (Linear): its gradients are about 3e+02, large enough to throw its weights")
    [mostly] = gradient_warnings(with_layer(grad_counts=[0] * 27 + [1], grad_zero=999))
    assert mostly.startswith("Layer 4 (Linear): 99.9% of its gradients are exactly 0, so it hardly learns")
    [diverged] = gradient_warnings(with_layer(grad_rms=float("inf")))
    assert "not finite" in diverged
    # A stranger's malformed events and layers are skipped, never a traceback.
    for bad in ({}, {"type": "histograms"}, {"type": "histograms", "step": 1, "layers": "x"},
                with_layer(grad_counts=[1] * 5), with_layer(weight_range=[1.0, 0.0]), with_layer(index=-1),
                with_layer(grad_zero=True), with_layer(grad_log10_range=[-3, 3]), with_layer(type=None)):
        assert gradient_warnings(bad) == []


def test_heatmaps_over_a_run(healthy_run):
    events, _ = healthy_run
    counts = parameter_counts(DEEP)
    for index in (1, 3, 5):
        matrix, edges, steps = heatmap(events, index, "weight")
        assert matrix.shape == (8, HISTOGRAM_WEIGHT_BINS) and edges.shape == (HISTOGRAM_WEIGHT_BINS + 1,)
        assert steps.tolist() == [1, 4, 8, 12, 16, 19, 23, 27]
        ranges = [layer["weight_range"] for e in histograms(events) for layer in e["layers"]
                  if layer["index"] == index]
        assert edges[0] == min(r[0] for r in ranges) and edges[-1] == max(r[1] for r in ranges)
        assert np.allclose(matrix.sum(axis=1), counts[index])  # re-binned, none lost
        grads, grad_edges, _ = heatmap(events, index, "grad")
        assert grads.shape == (8, HISTOGRAM_GRAD_BINS) and np.allclose(grad_edges, np.linspace(-12, 2, 29))
        zeros = [layer["grad_zero"] for e in histograms(events) for layer in e["layers"] if layer["index"] == index]
        assert (grads.sum(axis=1) + zeros == counts[index]).all()
    empty, edges, steps = heatmap(events, 4, "weight")  # the ReLU has no weights
    assert empty.shape == (0, HISTOGRAM_WEIGHT_BINS) and steps.shape == (0,) and len(edges) == 33
    with pytest.raises(ValueError, match="which is 'weight' or 'grad'"):
        heatmap(events, 1, "bias")


def test_heatmap_rebins_each_snapshot_onto_the_common_range():
    def event(step, lo, hi, counts):
        layer = {"index": 0, "type": "Linear", "weight_range": [lo, hi], "weight_counts": counts,
                 "grad_log10_range": [-12.0, 2.0], "grad_counts": [0] * 28, "grad_zero": sum(counts),
                 "weight_rms": 1.0, "grad_rms": 0.0}
        return {"type": "histograms", "epoch": 1, "step": step, "layers": [layer]}

    last_bin = [0] * 31 + [8]
    flat = [1] * 32
    matrix, edges, steps = heatmap([event(1, 0.0, 1.0, last_bin), {"type": "progress"}, event(2, 0.0, 2.0, flat),
                                    event(3, 0.5, 0.5, flat), {"type": "histograms", "step": 4, "layers": [{}]}],
                                   0)
    assert steps.tolist() == [1, 2, 3] and edges[0] == 0.0 and edges[-1] == 2.0
    assert matrix[0, 15] == 8 and matrix[0].sum() == 8  # [31/32, 1] lies in the bin [15/16, 1]
    assert np.allclose(matrix[1], 1.0)  # the same range: unchanged
    assert matrix[2, 8] == 32 and matrix[2].sum() == 32  # every weight at 0.5: all in its bin


def test_heatmap_skips_events_whose_step_or_weight_range_cannot_be_drawn():
    def event(step, lo, hi):
        layer = {"index": 0, "type": "Linear", "weight_range": [lo, hi], "weight_counts": [1] * 32,
                 "grad_log10_range": [-12.0, 2.0], "grad_counts": [0] * 28, "grad_zero": 32,
                 "weight_rms": 1.0, "grad_rms": 0.0}
        return {"type": "histograms", "epoch": 1, "step": step, "layers": [layer]}

    # A step past int64, a negative one, and a range whose span could overflow (NaN edges) are skipped;
    # a huge but safe one is kept.
    events = [event(10 ** 30, 0.0, 1.0), event(-1, 0.0, 1.0), event(2, -1e308, 1e308), event(3, -1e300, 0.0),
              event(4, -2.0, 3.0)]
    for which in ("weight", "grad"):
        matrix, edges, steps = heatmap(events, 0, which)
        assert steps.tolist() == [3, 4] and np.isfinite(edges).all() and np.isfinite(matrix).all()
    assert histogram_layers([event(5, 0.0, 1e308)]) == []


def test_snapshot_positions_are_in_epochs_even_when_the_logs_steps_per_epoch_is_garbage():
    def event(epoch, step):
        layer = {"index": 0, "type": "Linear", "weight_range": [0.0, 1.0], "weight_counts": [1] * 32,
                 "grad_log10_range": [-12.0, 2.0], "grad_counts": [0] * 28, "grad_zero": 32,
                 "weight_rms": 1.0, "grad_rms": 0.0}
        return {"type": "histograms", "epoch": epoch, "step": step, "layers": [layer]}

    events = [event(1, 1), event(1, 4), event(1, 8), event(1, 12), event(2, 16), event(2, 19)]
    x, unit = snapshot_positions(events, 0, 15)
    assert unit == "epoch" and np.allclose(x, np.array([1, 4, 8, 12, 16, 19]) / 15)
    for garbage in (0, -3, 1, 10 ** 9, "15", 15.5, None, True):  # disagrees with the events' epochs
        x, unit = snapshot_positions(events, 0, garbage)
        assert unit == "epoch" and np.allclose(x, [0.25, 0.5, 0.75, 1.0, 1.25, 1.5]), garbage
    for epochs in ([1, 1, "x", 1, 2, 2], [2, 1, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1]):  # no usable epochs: steps
        odd = [dict(e, epoch=n) for e, n in zip(events, epochs)]
        x, unit = snapshot_positions(odd, 0, 15)
        assert unit == "step" and x.tolist() == [1, 4, 8, 12, 16, 19]
    assert len(snapshot_positions(events, 3, 15)[0]) == 0
    assert histogram_snapshots([{"type": "progress"}, event(1, 10 ** 30), *events[:2], "x"]) == events[:2]


def test_a_deep_design_keeps_its_events_short():
    layers = [L("Flatten")] + [L("Linear", out_features=16) for _ in range(60)] + [L("Linear", out_features=10)]
    spec = NetworkSpec(tuple(layers), name="very-deep")
    found = layer_histograms(build_model(spec), spec)
    assert len(found) == MAX_HISTOGRAM_LAYERS
    assert found[0]["index"] == 1 and found[-1]["index"] == 61  # spread over the design, both ends kept
    assert len(json.dumps({"type": "histograms", "epoch": 1, "step": 1, "layers": found})) < 32 * 1024
