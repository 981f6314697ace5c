"""Torch modules that the catalog needs beyond ``torch.nn``'s own (imported only when building).

An exported script holds the source of the ones it uses (:func:`class_source`), so this file is
their one definition: keep each class self-contained, needing only ``torch`` and ``nn``."""

from __future__ import annotations

import ast
import inspect

import torch
from torch import nn


class RecurrentLastStep(nn.Module):
    """Reads a ``(N, C, H, W)`` image as ``H`` time steps of ``C*W`` features and returns the
    output at the last step (both directions' final outputs joined when bidirectional)."""

    def __init__(self, kind: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False):
        super().__init__()
        cell = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}[kind]
        self.kind = kind
        self.hidden_size = hidden_size
        self.bidirectional = bidirectional
        self.rnn = cell(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                        bidirectional=bidirectional)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        seq = x.permute(0, 2, 1, 3).reshape(n, h, c * w)
        out, _ = self.rnn(seq)
        if not self.bidirectional:
            return out[:, -1]
        # The forward direction ends at the last step, the backward one at the first.
        return torch.cat((out[:, -1, : self.hidden_size], out[:, 0, self.hidden_size :]), dim=1)


OWN_CLASSES: dict[str, type[nn.Module]] = {"RecurrentLastStep": RecurrentLastStep}


def own_class(name: str) -> type[nn.Module]:
    return OWN_CLASSES[name]


def class_source(name: str) -> str:
    """The source of one of :data:`OWN_CLASSES`, checked to be exactly one class definition of that
    name. ``OSError`` if the source is not installed (an app shipped without its .py files)."""
    source = inspect.getsource(own_class(name))
    body = ast.parse(source).body
    if len(body) != 1 or not isinstance(body[0], ast.ClassDef) or body[0].name != name:
        raise OSError(f"the source of {name} is not one class definition")
    return source
