"""The learning-rate finder (Smith 2017, "Cyclical learning rates"; fastai's ``lr_find``).

A short training of a copy of the model whose learning rate rises exponentially, step by step, from
a tiny rate to a huge one. The loss (smoothed by a debiased running average) first stays flat, then
falls, then blows up; the suggestion is the rate where it falls fastest ("steep", as fastai's
``steep`` but with the slope taken over a stretch of points, see :func:`steepest`) or the rate
part-way down the longest falling stretch ("valley", fastai's default since 2021). Nothing is
written anywhere: the user's weights and runs are never touched.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch

from playground.core.config import ConfigError, TrainConfig, resolve_device

START_LR = 1e-7
END_LR = 10.0
STEPS = 100
SMOOTHING = 0.98  # the running average's factor (fastai's beta)
DIVERGED = 4.0  # stop once the smoothed loss is this many times its lowest
SUGGESTIONS = ("steep", "valley")


@dataclass
class LrFinding:
    """What the finder saw: each step's rate and smoothed loss, and the suggested rate."""

    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    suggested_lr: float | None = None
    steep_lr: float | None = None
    valley_lr: float | None = None
    suggestion: str = "steep"
    diverged: bool = False  # stopped because the loss blew up (before the last rate)

    def to_dict(self) -> dict:
        return {"suggested_lr": self.suggested_lr, "suggestion": self.suggestion, "steep_lr": self.steep_lr,
                "valley_lr": self.valley_lr, "diverged": self.diverged, "lrs": self.lrs, "losses": self.losses}


def check_range(start_lr: float, end_lr: float, steps: int) -> None:
    for name, value in (("start_lr", start_lr), ("end_lr", end_lr)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0 < value <= 1e6:
            raise ConfigError(f"{name} must be a number above 0 and at most 1e6; got {value!r}")
    if not start_lr < end_lr:
        raise ConfigError(f"start_lr ({start_lr:g}) must be below end_lr ({end_lr:g})")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 10 <= steps <= 10_000:
        raise ConfigError(f"steps must be a whole number from 10 to 10000; got {steps!r}")


def _trimmed(lrs: list[float], losses: list[float]) -> tuple[list[float], list[float]]:
    """Without the first tenth and the last few points, as fastai plots and suggests: the running
    average has not settled at the start, and the end is the explosion."""
    start, end = len(lrs) // 10, max(len(lrs) // 10 + 2, len(lrs) - 5)
    return lrs[start:end], losses[start:end]


def steepest(lrs: list[float], losses: list[float]) -> float | None:
    """The middle of the stretch where the loss falls fastest against log(rate), before its lowest
    point. The slope is taken across a stretch of about a sixteenth of the points (6 of ~95) on each
    side rather than between neighbours as fastai's ``steep`` does: neighbours' slopes are noise, and
    on MNIST their steepest often lies a few times too high (mlp-300: 0.12 to 0.42 from run to run,
    against 0.10 to 0.14 this way)."""
    n = len(lrs)
    if n < 2:
        return None
    k = max(1, n // 16)
    end = max(2, losses.index(min(losses)) + 1)  # the fall, not the explosion after it
    best, at = math.inf, None
    for i in range(end):
        lo, hi = max(0, i - k), min(n - 1, i + k)
        if hi == lo:
            continue
        slope = (losses[hi] - losses[lo]) / (math.log(lrs[hi]) - math.log(lrs[lo]))
        if slope < best:
            best, at = slope, lrs[i]
    return at


def valley(lrs: list[float], losses: list[float]) -> float | None:
    """fastai's ``valley``: the longest stretch over which the loss keeps falling (as a longest
    decreasing subsequence), and a rate about halfway down it."""
    n = len(losses)
    if n < 2:
        return None
    lds, start, end = [1] * n, 0, 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
        if lds[end] < lds[i]:
            end, start = i, i - lds[i]
    third = (end - start) / 3
    return lrs[min(n - 1, start + int(third) + int(third / 2))]


class LrFinder:
    """Run the finder on ``spec`` with ``config``'s optimizer, batch size and data (a fresh model
    seeded by ``config.seed``, or ``initial_state`` copied in). Iterate :meth:`steps` for
    ``{"lr", "loss"}`` per step, then read :attr:`finding`; or call :meth:`run`."""

    def __init__(self, spec, config: TrainConfig, data=None, initial_state: dict | None = None,
                 start_lr: float = START_LR, end_lr: float = END_LR, steps: int = STEPS,
                 suggestion: str = "steep", should_stop: Callable[[], bool] | None = None):
        from playground.core.objective import check_compatible

        check_range(start_lr, end_lr, steps)
        if suggestion not in SUGGESTIONS:
            raise ConfigError(f"suggestion must be one of {', '.join(SUGGESTIONS)}; got {suggestion!r}")
        check_compatible(spec, config)
        self.spec, self.config, self.data, self.initial_state = spec, config, data, initial_state
        self.start_lr, self.end_lr, self.count = start_lr, end_lr, steps
        self.should_stop = should_stop or (lambda: False)
        self.finding = LrFinding(suggestion=suggestion)

    def run(self) -> LrFinding:
        for _ in self.steps():
            pass
        return self.finding

    def _set_up(self):
        from playground.core.build import build_model
        from playground.core.data import load_config_dataset
        from playground.core.objective import make_optimizer, to_input

        cfg = self.config
        device = resolve_device(cfg.device)
        torch.manual_seed(cfg.seed)
        model = build_model(self.spec)
        if self.initial_state is not None:
            model.load_state_dict(self.initial_state)  # copies: the caller's tensors stay as they were
        model = model.to(device).train()
        data = self.data or load_config_dataset(cfg)
        if len(data.train) == 0:
            raise ConfigError("there are no training images (is limit too small?)")
        x, y = to_input(data.train.images, device), data.train.labels.to(device)
        optimizer = make_optimizer(model.parameters(), cfg.updated(lr=self.start_lr))
        return model, optimizer, x, y, device

    def steps(self) -> Iterator[dict]:
        from playground.core.objective import batch_loss

        model, optimizer, x, y, device = self._set_up()
        cfg, finding = self.config, self.finding
        generator = torch.Generator(device=device).manual_seed(cfg.seed)
        bs, n = cfg.batch_size, len(y)
        perm, position = torch.randperm(n, generator=generator, device=device), 0
        ratio = (self.end_lr / self.start_lr) ** (1 / (self.count - 1))
        average, best = 0.0, math.inf
        for i in range(self.count):
            if self.should_stop():
                break
            lr = self.start_lr * ratio ** i
            for group in optimizer.param_groups:
                group["lr"] = lr
            if position + bs > n:
                perm, position = torch.randperm(n, generator=generator, device=device), 0
            idx = perm[position:position + bs]
            position += bs
            loss = batch_loss(model(x.index_select(0, idx)), y.index_select(0, idx), cfg.loss, self.spec.num_classes)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            value = loss.item()
            if not math.isfinite(value):
                finding.diverged = True
                break
            average = SMOOTHING * average + (1 - SMOOTHING) * value
            smoothed = average / (1 - SMOOTHING ** (i + 1))
            finding.lrs.append(lr)
            finding.losses.append(smoothed)
            yield {"lr": lr, "loss": smoothed}
            best = min(best, smoothed)
            if i > 0 and smoothed > DIVERGED * best:
                finding.diverged = True
                break
        self._suggest()

    def _suggest(self) -> None:
        finding = self.finding
        lrs, losses = _trimmed(finding.lrs, finding.losses)
        finding.steep_lr, finding.valley_lr = steepest(lrs, losses), valley(lrs, losses)
        finding.suggested_lr = finding.steep_lr if finding.suggestion == "steep" else finding.valley_lr


def lr_find(spec, config: TrainConfig, **kwargs) -> LrFinding:
    """Run the finder to its end (see :class:`LrFinder` for the arguments)."""
    return LrFinder(spec, config, **kwargs).run()
