"""Evaluation: accuracy, per-class precision, recall and F1, the confusion matrix, the mistakes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


def confusion_matrix(y_true, y_pred, num_classes: int = 10) -> list[list[int]]:
    """``m[t][p]`` = how many images of true class ``t`` were predicted as ``p``."""
    import torch

    y_true = torch.as_tensor(y_true, dtype=torch.int64).cpu()
    y_pred = torch.as_tensor(y_pred, dtype=torch.int64).cpu()
    flat = torch.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).tolist()


@dataclass(frozen=True)
class ClassMetrics:
    precision: float
    recall: float
    f1: float
    support: int  # true images of this class


def per_class_metrics(confusion: list[list[int]]) -> list[ClassMetrics]:
    """Precision, recall and F1 of each class from a confusion matrix (0 where undefined)."""
    n = len(confusion)
    out = []
    for c in range(n):
        tp = confusion[c][c]
        predicted = sum(confusion[t][c] for t in range(n))
        actual = sum(confusion[c])
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.append(ClassMetrics(precision, recall, f1, actual))
    return out


@dataclass(frozen=True)
class Evaluation:
    """The result the Evaluate area and ``playground evaluate`` show."""

    accuracy: float
    loss: float
    count: int
    confusion: list[list[int]]
    per_class: list[ClassMetrics]
    misclassified: list[int]  # indices into the evaluated set
    predictions: list[int]
    labels: list[int] = field(default_factory=list)  # the true classes, in the same order

    def indices(self, true: int | None = None, predicted: int | None = None) -> list[int]:
        """Indices of the evaluated images with this true and/or predicted class."""
        return [i for i, (t, p) in enumerate(zip(self.labels, self.predictions))
                if (true is None or t == true) and (predicted is None or p == predicted)]

    @property
    def macro_f1(self) -> float:
        return sum(m.f1 for m in self.per_class) / len(self.per_class)

    def to_dict(self, with_predictions: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data["macro_f1"] = self.macro_f1
        if not with_predictions:
            data.pop("predictions")
            data.pop("labels")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Evaluation":
        return cls(
            accuracy=data["accuracy"], loss=data["loss"], count=data["count"],
            confusion=data["confusion"], per_class=[ClassMetrics(**m) for m in data["per_class"]],
            misclassified=data["misclassified"], predictions=data.get("predictions", []),
            labels=data.get("labels", []),
        )

    def format(self, class_names: list[str] | None = None) -> str:
        names = class_names or [str(i) for i in range(len(self.per_class))]
        width = max(5, *(len(n) for n in names))
        lines = [f"accuracy  {self.accuracy:.2%}  ({self.count - len(self.misclassified)} of {self.count})",
                 f"loss      {self.loss:.4f}", f"macro F1  {self.macro_f1:.4f}", "",
                 f"{'class'.ljust(width)}  precision  recall     F1  support"]
        for name, m in zip(names, self.per_class):
            lines.append(f"{name.ljust(width)}  {m.precision:9.4f}  {m.recall:6.4f}  {m.f1:.4f}  {m.support:7d}")
        lines += ["", "confusion matrix (rows: true class, columns: predicted)"]
        cell = max(4, len(str(max(max(r) for r in self.confusion))) + 1)
        lines.append(" " * width + "".join(n[:cell - 1].rjust(cell) for n in names))
        for name, row in zip(names, self.confusion):
            lines.append(name.ljust(width) + "".join(str(v).rjust(cell) for v in row))
        return "\n".join(lines)


def evaluate(model, images, labels, device: str = "cpu", batch_size: int = 1000,
             loss: str = "cross-entropy", num_classes: int | None = None, should_stop=None) -> Evaluation:
    """Run ``model`` over uint8 ``images`` (N, 28, 28) and compare with ``labels``; ``num_classes``
    None: as many as the model has outputs."""
    import torch

    from playground.core.objective import batch_loss, to_input

    was_training = model.training
    model.eval()
    preds, total_loss = [], 0.0
    with torch.inference_mode():
        for i in range(0, len(labels), batch_size):
            if should_stop is not None and should_stop():
                break
            x = to_input(images[i:i + batch_size], device)
            y = labels[i:i + batch_size].to(device)
            out = model(x)
            if num_classes is None:
                num_classes = out.shape[1]
            total_loss += batch_loss(out, y, loss, num_classes).item() * len(y)
            preds.append(out.argmax(1).cpu())
    model.train(was_training)
    pred = torch.cat(preds) if preds else torch.zeros(0, dtype=torch.int64)
    true = labels[: len(pred)].cpu()
    confusion = confusion_matrix(true, pred, num_classes or 10)
    wrong = (pred != true).nonzero().flatten().tolist()
    n = len(pred)
    return Evaluation(
        accuracy=(n - len(wrong)) / n if n else 0.0, loss=total_loss / n if n else float("nan"),
        count=n, confusion=confusion, per_class=per_class_metrics(confusion), misclassified=wrong,
        predictions=pred.tolist(), labels=true.tolist(),
    )
