"""Evaluation metrics against figures worked out by hand."""

from __future__ import annotations

import pytest
import torch

from playground.core.metrics import Evaluation, confusion_matrix, evaluate, per_class_metrics


def test_small_confusion_matrix_by_hand():
    # true:  0 0 0 1 1 2 2 2 2
    # pred:  0 0 1 1 2 2 2 0 2
    y_true = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 0, 1, 1, 2, 2, 2, 0, 2]
    m = confusion_matrix(y_true, y_pred, 3)
    assert m == [[2, 1, 0], [0, 1, 1], [1, 0, 3]]
    c0, c1, c2 = per_class_metrics(m)
    # class 0: tp 2, predicted 3, actual 3
    assert (c0.precision, c0.recall, c0.f1, c0.support) == pytest.approx((2 / 3, 2 / 3, 2 / 3, 3))
    # class 1: tp 1, predicted 2, actual 2
    assert (c1.precision, c1.recall, c1.f1) == pytest.approx((0.5, 0.5, 0.5))
    # class 2: tp 3, predicted 4 (at positions 4, 5, 6, 8), actual 4
    assert (c2.precision, c2.recall) == pytest.approx((3 / 4, 3 / 4))
    assert c2.f1 == pytest.approx(0.75)


def test_undefined_precision_is_zero():
    m = confusion_matrix([0, 0, 1], [0, 0, 0], 3)
    c0, c1, c2 = per_class_metrics(m)
    assert c0.precision == pytest.approx(2 / 3) and c0.recall == 1.0
    assert (c1.precision, c1.recall, c1.f1) == (0.0, 0.0, 0.0)
    assert c2.support == 0 and c2.f1 == 0.0


class Fixed(torch.nn.Module):
    """A 'model' whose predictions are chosen in advance."""

    def __init__(self, preds):
        super().__init__()
        self.preds = torch.tensor(preds)
        self.i = 0

    def forward(self, x):
        n = len(x)
        out = torch.nn.functional.one_hot(self.preds[self.i:self.i + n], 10).float() * 5
        self.i += n
        return out


def test_evaluate_collects_mistakes_and_round_trips():
    labels = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6])
    preds = [3, 1, 4, 7, 5, 9, 2, 0]
    images = torch.zeros(8, 28, 28, dtype=torch.uint8)
    result = evaluate(Fixed(preds), images, labels, batch_size=3)
    assert result.accuracy == 0.75 and result.count == 8
    assert result.misclassified == [3, 7]
    assert result.labels == labels.tolist() and result.indices(true=1, predicted=7) == [3]
    assert result.predictions == preds
    assert result.confusion[1][7] == 1 and result.confusion[6][0] == 1
    assert Evaluation.from_dict(result.to_dict(True)) == result
    text = result.format()
    assert "accuracy  75.00%  (6 of 8)" in text and "confusion matrix" in text
