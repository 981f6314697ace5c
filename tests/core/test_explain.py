"""Inside the network (core/explain.py), on real MNIST digits: every layer's output has the shape the
designer shows, the saliency map passes a deletion test, Grad-CAM applies to conv designs, the first
layer's filters are the model's own weights, and the PCA map separates the digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from playground.core import explain as E
from playground.core.build import build_model
from playground.core.layers import make_layer as L
from playground.core.predict import Classifier
from playground.core.presets import PRESETS
from playground.core.shapes import infer_shapes
from playground.core.spec import NetworkSpec


@pytest.fixture(scope="module")
def classifier():
    return Classifier.from_path()  # the bundled default model (a trained fast-cnn)


@pytest.fixture(scope="module")
def test_digits():
    """The first 500 MNIST test digits as uint8 (n, 28, 28) and their labels."""
    from playground.core.data import load_raw

    _, test = load_raw("mnist")
    return test.images[:500].numpy(), test.labels[:500].numpy()


def as_float(images_uint8):
    return images_uint8.astype(np.float32) / 255.0


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_layer_output_has_the_inferred_shape(name, test_digits):
    spec = PRESETS[name].spec
    torch.manual_seed(0)
    model = build_model(spec).eval()  # random weights: the shapes do not depend on training
    probs, outputs = E.layer_outputs(model, spec, as_float(test_digits[0][0]))
    rows = infer_shapes(spec).rows
    assert [o.index for o in outputs] == list(range(len(spec.layers)))
    assert [o.type for o in outputs] == [layer.type for layer in spec.layers]
    assert [o.shape for o in outputs] == [row.out_shape for row in rows]
    for out in outputs:
        assert out.values.shape == out.shape and out.values.dtype == np.float32
    assert probs.shape == (10,) and probs.sum() == pytest.approx(1.0, abs=1e-5)
    # The last layer's output is the logits those probabilities come from.
    assert np.allclose(torch.softmax(torch.from_numpy(outputs[-1].values), 0).numpy(), probs, atol=1e-6)


def test_a_recurrent_layer_gives_its_hidden_state_at_every_row(test_digits):
    spec = PRESETS["lstm-rows"].spec
    torch.manual_seed(0)
    model = build_model(spec).eval()
    _, outputs = E.layer_outputs(model, spec, as_float(test_digits[0][0]))
    lstm, linear = outputs
    hidden = spec.layers[0].params["hidden_size"]
    assert lstm.steps.shape == (28, hidden)  # one row of the image per step
    assert np.allclose(lstm.steps[-1], lstm.values)  # the layer passes on the last step
    assert not np.allclose(lstm.steps[0], lstm.steps[-1])
    assert linear.steps is None


def test_layer_outputs_give_the_classifiers_probabilities(classifier, test_digits):
    images, labels = test_digits
    for image, label in zip(as_float(images[:20]), labels[:20]):
        probs, _ = E.layer_outputs(classifier.model, classifier.spec, image)
        assert np.allclose(probs, classifier.probabilities(image), atol=1e-6)
        assert np.argmax(probs) == label  # the default model gets these 20 right


def test_gradient_x_input_passes_the_deletion_test_on_real_digits(classifier, test_digits):
    """Zeroing the most salient quarter of the ink hurts the guess far more than random ink."""
    images = as_float(test_digits[0][:100])
    result = E.deletion_test(classifier.model, classifier.spec, images)
    assert result.salient_drops.shape == result.random_drops.shape == (100,)
    assert result.ratio >= 3.0 and result.mean_salient >= 0.4, (result.ratio, result.mean_salient)
    assert result.passes()
    # The plain gradient's magnitude, for comparison, is clearly worse.
    magnitude = E.deletion_test(classifier.model, classifier.spec, images, method="gradient-magnitude")
    assert magnitude.mean_salient < result.mean_salient


def test_saliency_is_an_image_aligned_map_that_leaves_the_model_alone(classifier, test_digits):
    image, label = as_float(test_digits[0][0]), int(test_digits[1][0])
    sal = E.saliency(classifier.model, classifier.spec, image, label)
    assert sal.shape == (28, 28) and sal.dtype == np.float32
    assert np.all(sal[image == 0] == 0)  # gradient x input: no ink, no evidence
    assert sal.max() > 0
    assert all(p.grad is None for p in classifier.model.parameters())
    other = E.saliency(classifier.model, classifier.spec, image, (label + 1) % 10)
    assert not np.allclose(sal, other)


def test_explain_defaults_to_the_guess_and_takes_any_class(classifier, test_digits):
    image, label = as_float(test_digits[0][1]), int(test_digits[1][1])
    guessed = E.explain(classifier.model, classifier.spec, image)
    assert guessed.target == label == int(np.argmax(guessed.probabilities))
    assert np.allclose(guessed.probabilities, classifier.probabilities(image), atol=1e-6)
    assert len(guessed.outputs) == len(classifier.spec.layers)
    assert guessed.method == "gradient-x-input"
    assert np.array_equal(guessed.saliency, E.saliency(classifier.model, classifier.spec, image, label))
    chosen = E.explain(classifier.model, classifier.spec, image, target=3, method="grad-cam", with_outputs=False)
    assert chosen.target == 3 and chosen.outputs == [] and chosen.saliency.shape == (28, 28)
    with pytest.raises(ValueError, match="target class 10"):
        E.explain(classifier.model, classifier.spec, image, target=10)
    with pytest.raises(ValueError, match="unknown saliency method"):
        E.saliency(classifier.model, classifier.spec, image, 0, method="lime")


def test_grad_cam_is_for_conv_designs(classifier, test_digits):
    assert E.SALIENCY_METHODS == ("gradient-x-input", "grad-cam")
    available = {name: E.grad_cam_available(p.spec) for name, p in PRESETS.items()}
    assert available == {"mlp-300": False, "tutorial-cnn": True, "lenet5": True, "fast-cnn": True,
                         "lstm-rows": False}
    images = as_float(test_digits[0][:100])
    cam = E.saliency(classifier.model, classifier.spec, images[0], int(test_digits[1][0]), "grad-cam")
    assert cam.shape == (28, 28) and cam.dtype == np.float32 and cam.min() >= 0 and cam.max() > 0
    result = E.deletion_test(classifier.model, classifier.spec, images, method="grad-cam")
    assert result.ratio > 2.0  # coarser than gradient x input, still far better than chance
    mlp = PRESETS["mlp-300"].spec
    with pytest.raises(ValueError, match="Conv2d"):
        E.saliency(build_model(mlp).eval(), mlp, images[0], 0, "grad-cam")


def test_grad_cam_cells_sit_on_their_receptive_fields_centres():
    # A 9x9 convolution without padding that copies its centre pixel: cell (j, k) of its 20x20 output
    # sees input pixel (j + 4, k + 4). Only cell (5, 7) counts for class 0, and only input pixel
    # (9, 11) is lit, so Grad-CAM is that one cell: its peak must be on pixel (9, 11) itself (a map
    # stretched over the image would put it near (7, 10)).
    spec = NetworkSpec((L("Conv2d", out_channels=1, kernel_size=9), L("ReLU"), L("Flatten"),
                        L("Linear", out_features=10)), name="one-cell")
    model = build_model(spec).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model[0].weight[0, 0, 4, 4] = 1.0
        model[3].weight[0, 5 * 20 + 7] = 1.0
    image = np.zeros((28, 28), np.float32)
    image[9, 11] = 1.0
    cam = E.saliency(model, spec, image, 0, "grad-cam")
    assert np.unravel_index(np.argmax(cam), cam.shape) == (9, 11) and cam[9, 11] > 1.5 * np.sort(cam.ravel())[-2]
    for name, centres in (("tutorial-cnn", (7.5, 4.0)), ("lenet5", (5.5, 4.0)), ("fast-cnn", (1.5, 4.0))):
        spec = PRESETS[name].spec
        assert E.receptive_field_centres(spec, E.grad_cam_layer(spec)) == centres, name
    unflattened = NetworkSpec((L("Flatten"), L("Linear", out_features=784), L("Unflatten", channels=1, height=28,
                                                                              width=28),
                               L("Conv2d", out_channels=2, kernel_size=3), L("Flatten"),
                               L("Linear", out_features=10)), name="unflat")
    assert E.receptive_field_centres(unflattened, 3) is None  # stretched, as before


def test_first_layer_weights_are_the_models_own(classifier):
    state = classifier.model.state_dict()
    filters = E.first_layer_weights(classifier.spec, state)
    assert filters.kind == "conv" and filters.index == 0 and filters.type == "Conv2d"
    assert filters.images.shape == (16, 5, 5)
    assert np.array_equal(filters.images, state["0.weight"][:, 0].numpy())
    assert "16 filters of 5x5" in filters.caption
    assert E.first_layer_note(classifier.spec) == ""

    mlp = PRESETS["mlp-300"].spec
    mlp_state = build_model(mlp).state_dict()
    templates = E.first_layer_weights(mlp, mlp_state)
    assert templates.kind == "linear" and templates.index == 1 and templates.images.shape == (300, 28, 28)
    assert np.array_equal(templates.images[7].ravel(), mlp_state["1.weight"][7].numpy())


def test_no_first_layer_images_where_the_weights_are_not_pictures():
    lstm = PRESETS["lstm-rows"].spec
    assert E.first_layer_weights(lstm, build_model(lstm).state_dict()) is None
    assert "row by row" in E.first_layer_note(lstm)
    pooled = NetworkSpec((L("MaxPool2d", kernel_size=2), L("Flatten"), L("Linear", out_features=10)))
    assert E.first_layer_weights(pooled, build_model(pooled).state_dict()) is None
    assert "MaxPool2d" in E.first_layer_note(pooled)


def test_the_feature_map_separates_the_digits(classifier, test_digits):
    images, labels = test_digits
    fmap = E.FeatureMap.fit(classifier.model, classifier.spec, images, labels)
    assert fmap.points.shape == (500, 2) and np.array_equal(fmap.labels, labels)
    centroids = np.stack([fmap.points[labels == k].mean(0) for k in range(10)])
    within = np.sqrt(np.mean([((fmap.points[labels == k] - centroids[k]) ** 2).sum(1).mean() for k in range(10)]))
    between = np.linalg.norm(centroids[:, None] - centroids[None], axis=-1)[np.triu_indices(10, 1)]
    assert between.mean() > 2 * within, (between.mean(), within)
    nearest = np.argmin(np.linalg.norm(fmap.points[:, None] - centroids[None], axis=-1), axis=1)
    assert (nearest == labels).mean() > 0.4  # 2-D, so far from perfect, but far above chance (0.1)
    # An image of the map lands on its own point; the same images give the same map.
    for i in (0, 123):
        assert np.allclose(fmap.project(as_float(images[i])), fmap.points[i], atol=1e-3)
    again = E.FeatureMap.fit(classifier.model, classifier.spec, images, labels)
    assert np.allclose(again.points, fmap.points, atol=1e-4)
