"""Training a GAN: the generator and the discriminator of a :class:`GanSpec`, taking turns.

Each step is one discriminator step (real images towards "real", generated ones towards
"generated") and then one generator step (its images towards "real" in the discriminator's eyes,
the non-saturating loss of Goodfellow et al. 2014). The loss setting chooses how a score is compared
with its target: cross-entropy is the standard GAN (binary cross-entropy on the logit), MSE is the
least-squares GAN (Mao et al. 2017). Images are scaled to -1..1, the range of a Tanh ending.

The trainer sees the discriminator's loss and its share of right calls as the step's loss and
accuracy; the GAN's own figures come as ``gan_progress`` events after each report, images of a fixed
noise batch as ``samples`` events, and per epoch a ``quality`` event (core/gan_quality.py). The
quality, the epoch-end samples and the saved generator come from an average of the generator's
weights over the run, weighted towards its end, which makes much cleaner digits than the weights of
any one step.
"""

from __future__ import annotations

import copy
import time

import torch
import torch.nn.functional as F

from playground.core.config import ConfigError, TrainConfig
from playground.core.events import (GanProgressEvent, GanStepEvent, QualityEvent, SamplesEvent, encode_samples)
from playground.core.gan_quality import QualityMeter, gan_warnings
from playground.core.gan_spec import GanSpec, build_gan, infer_gan_shapes
from playground.core.objective import make_optimizer, make_scheduler
from playground.core.spec import NUM_CLASSES, DesignError
from playground.core.tasks import TrainingTask

SAMPLE_SECONDS = 0.3  # the live sample grid's refresh: a few times a second
QUALITY_COUNT = 1000  # generated images the quality meter scores each epoch
# The generator average: over the whole run so far, weighted towards its later steps (step t's
# weight grows as t ** (EMA_WARMUP - 1)), until at about 15,000 steps the horizon EMA_DECAY (the last
# ten thousand steps) takes over. On the presets this beat an average over the last ~10% of the steps
# (dcgan: 75% confident digits against 73-74% after 5 epochs), as a GAN's generator oscillates.
EMA_DECAY = 0.9999
EMA_WARMUP = 1.5
# The discriminator's target for real images: one-sided label smoothing (Salimans et al. 2016) keeps
# it from growing overconfident, so the generator keeps getting useful gradients (the presets' figures
# in bench/gan_quality.py were measured with it).
REAL_TARGET = 0.9
# Batches that re-estimate the averaged generator's normalisation statistics: with 20, two estimates
# for the same weights put the confident share 3 points apart; with 100 and more, within half a point.
CALIBRATION_BATCHES = 100


def sample_layout(spec: GanSpec) -> tuple[int, list[int] | None]:
    """How many images the live grid shows and, for a conditional GAN, each one's digit: 8x8 for an
    unconditional one, 10x10 with one row per digit for a conditional one."""
    if spec.conditional:
        return 100, [i // 10 for i in range(100)]
    return 64, None


def to_gan_images(images: torch.Tensor, device) -> torch.Tensor:
    """uint8 images (N, 28, 28) -> float32 (N, 1, 28, 28) in -1..1 (white ink 1)."""
    return images.to(device).unsqueeze(1).float().div_(127.5).sub_(1)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Generated images (N, 1, 28, 28) in -1..1 -> uint8 (N, 28, 28), white ink on black."""
    return images.detach().float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).squeeze(1).cpu()


class GanTask(TrainingTask):
    """A generator and a discriminator trained against each other on the training images."""

    spec_from_dict = staticmethod(GanSpec.from_dict)

    def __init__(self, spec: GanSpec, config: TrainConfig):
        if not isinstance(spec, GanSpec):
            raise ConfigError("a GAN run needs a GAN design (a generator and a discriminator)")
        shapes = infer_gan_shapes(spec)
        if not shapes.valid:
            raise DesignError("the GAN cannot be trained: "
                              + "; ".join(f"{which}: {p.message}" for which, p in shapes.all_problems()))
        if config.augment:
            raise ConfigError("augmentation is for classifiers: a GAN learns to draw the digits as they are; "
                              "turn augmentation off")
        super().__init__(spec, config)
        self._quality: QualityEvent | None = None  # the latest epoch's
        self._measured = None  # the quality figures measured at validation, for the epoch's events
        self._meter: QualityMeter | None = None

    # -- set up -----------------------------------------------------------------------------------

    def set_up(self, data, device, initial_state, optimizer_state) -> None:
        cfg, spec = self.config, self.spec
        if initial_state is not None or optimizer_state is not None:
            raise ConfigError("continuing a GAN run is not supported yet; start a new run")
        self.data, self.device = data, device
        generator, discriminator = build_gan(spec)
        self.G, self.D = generator.to(device).train(), discriminator.to(device).train()
        self.G_average = copy.deepcopy(self.G).eval()
        for p in self.G_average.parameters():
            p.requires_grad_(False)
        self.model = self.G
        self.X = to_gan_images(data.train.images, device)
        self.Y = data.train.labels.to(device)
        n, bs = len(self.Y), cfg.batch_size
        self.steps_per_epoch = max(1, n // bs) if n >= 2 else 1  # whole batches (batch norm needs 2+)
        self.opt_g = make_optimizer(self.G.parameters(), cfg)
        self.opt_d = make_optimizer(self.D.parameters(), cfg)
        self.optimizer = self.opt_g
        self.schedulers = [s for s in (make_scheduler(self.opt_g, cfg, self.steps_per_epoch),
                                       make_scheduler(self.opt_d, cfg, self.steps_per_epoch)) if s is not None]
        self.generator = torch.Generator(device=device).manual_seed(cfg.seed)
        fixed = torch.Generator().manual_seed(cfg.seed + 1)
        count, digits = sample_layout(spec)
        self.sample_digits = digits
        self.fixed_z = torch.randn(count, spec.latent_size, generator=fixed).to(device)
        self.fixed_y = torch.tensor(digits, device=device) if digits else None
        self.lr, self.updates, self._cursor, self._manual = cfg.lr, 0, 0, None
        self._window: list[torch.Tensor] = []  # per step: d_loss, g_loss, d_real, d_fake
        self._epoch_figures: list[tuple[float, float, float, float]] = []
        self._last_samples = 0.0

    def parameters(self) -> int:
        return sum(p.numel() for net in (self.G, self.D) for p in net.parameters())

    # -- one step ---------------------------------------------------------------------------------

    def _g_input(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """The generator's input: the latent vectors, then the digits' one-hot codes if conditional."""
        return z if y is None else torch.cat([z, F.one_hot(y, NUM_CLASSES).to(z.dtype)], 1)

    def _judge(self, images: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """The discriminator's scores (logits) of ``images``, told the digits as 10 constant channels
        after the image if conditional."""
        if y is not None:
            images = torch.cat([images, _code_channels(F.one_hot(y, NUM_CLASSES).to(images.dtype), images)], 1)
        return self.D(images).reshape(-1)

    def _loss(self, scores: torch.Tensor, target: float) -> torch.Tensor:
        full = torch.full_like(scores, target)
        if self.config.loss == "mse":
            return F.mse_loss(scores, full)
        return F.binary_cross_entropy_with_logits(scores, full)

    def _probability(self, scores: torch.Tensor) -> torch.Tensor:
        return scores.clamp(0, 1).mean() if self.config.loss == "mse" else torch.sigmoid(scores).mean()

    def _batch(self, b: int) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        bs = self.config.batch_size
        idx = self.perm[b * bs:(b + 1) * bs]
        y = self.Y.index_select(0, idx) if self.spec.conditional else None
        z = torch.randn(len(idx), self.spec.latent_size, generator=self.generator, device=self.device)
        return self.X.index_select(0, idx), y, z

    def _d_step(self, real, y, z) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        fake = self.G(self._g_input(z, y))
        real_scores, fake_scores = self._judge(real, y), self._judge(fake.detach(), y)
        d_loss = self._loss(real_scores, REAL_TARGET) + self._loss(fake_scores, 0.0)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        return d_loss.detach(), fake, real_scores.detach(), fake_scores.detach()

    def _g_step(self, fake, y) -> torch.Tensor:
        # The discriminator's weights need no gradients here (its step cleared them anyway):
        # freezing them saves a share of the backward pass.
        self.D.requires_grad_(False)
        try:
            g_loss = self._loss(self._judge(fake, y), 1.0)
            self.opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
        finally:
            self.D.requires_grad_(True)
        self.opt_g.step()
        self._update_average()
        return g_loss.detach()

    @torch.no_grad()
    def _update_average(self) -> None:
        self.updates += 1
        decay = min(EMA_DECAY, 1 - EMA_WARMUP / (EMA_WARMUP + 1 + self.updates))
        for average, current in zip(self.G_average.parameters(), self.G.parameters()):
            average.lerp_(current, 1 - decay)
        for average, current in zip(self.G_average.buffers(), self.G.buffers()):
            average.copy_(current)

    def start_epoch(self) -> None:
        self.perm = torch.randperm(len(self.Y), generator=self.generator, device=self.device)
        self._epoch_figures = []

    def step(self, b: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        real, y, z = self._batch(b)
        d_loss, fake, real_scores, fake_scores = self._d_step(real, y, z)
        g_loss = self._g_step(fake, y)
        for scheduler in self.schedulers:
            scheduler.step()
        self.lr = self.opt_g.param_groups[0]["lr"]
        self._window.append(torch.stack([d_loss, g_loss, self._probability(real_scores),
                                         self._probability(fake_scores)]))
        correct = ((real_scores > 0).sum() + (fake_scores < 0).sum()) / 2
        return d_loss, correct, len(real)

    # -- events -----------------------------------------------------------------------------------

    def report_events(self, epoch: int, step: int, end: bool) -> list[dict]:
        events: list[dict] = []
        if self._window:
            d_loss, g_loss, d_real, d_fake = torch.stack(self._window).mean(0).tolist()
            self._window.clear()
            self._epoch_figures.append((d_loss, g_loss, d_real, d_fake))
            events.append(GanProgressEvent(type="gan_progress", epoch=epoch, step=step, d_loss=d_loss,
                                           g_loss=g_loss, d_real=d_real, d_fake=d_fake))
        now = time.perf_counter()
        if not end and now - self._last_samples >= SAMPLE_SECONDS:
            self._last_samples = now
            events.append(self.samples_event(epoch, step, self.G))
        return events

    @torch.no_grad()
    def samples_event(self, epoch: int, step: int, generator: torch.nn.Module) -> SamplesEvent:
        """The fixed noise batch's images as ``generator`` makes them now (in eval mode, so that a
        batch-normalised generator uses its running statistics, as any later use of it does)."""
        was_training = generator.training
        generator.eval()
        images = to_uint8(generator(self._g_input(self.fixed_z, self.fixed_y)))
        generator.train(was_training)
        return SamplesEvent(type="samples", epoch=epoch, step=step, count=len(images),
                            pixels=encode_samples(images.numpy()), digits=self.sample_digits)

    def validate(self, should_stop) -> None:
        """At an epoch's end: the averaged generator's normalisation statistics, then the quality
        meter on its images. A GAN has no validation loss, so the newest weights are the best."""
        self._calibrate()
        if should_stop():
            return None
        self._measured = self._measure()
        return None

    @torch.no_grad()
    def _calibrate(self) -> None:
        """Re-estimate the averaged generator's batch-normalisation statistics from its own images
        (the running statistics belong to the current weights, not to their average)."""
        norms = [m for m in self.G_average.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        if not norms:
            return
        saved = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a plain average over the calibration batches
        self.G_average.train()
        for _ in range(CALIBRATION_BATCHES):
            _, y, z = self._batch(0)
            self.G_average(self._g_input(z, y))
        self.G_average.eval()
        for m, momentum in zip(norms, saved):
            m.momentum = momentum

    @torch.no_grad()
    def _measure(self):
        meter = self._meter = self._meter or QualityMeter(self.device)
        g = torch.Generator().manual_seed(self.config.seed + 2)  # the same images' noise every epoch
        z = torch.randn(QUALITY_COUNT, self.spec.latent_size, generator=g).to(self.device)
        asked = (torch.arange(QUALITY_COUNT, device=self.device) % NUM_CLASSES) if self.spec.conditional else None
        images = torch.cat([self.G_average(part) for part in self._g_input(z, asked).split(250)])
        figures = list(zip(*self._epoch_figures)) or [[], [], [], []]
        quality = meter.measure(images, asked)
        return quality, gan_warnings(*figures)

    def epoch_events(self, epoch: int, step: int) -> list[dict]:
        events: list[dict] = []
        if self._measured is not None:
            quality, warnings = self._measured
            self._measured = None
            self._quality = quality.to_event(epoch, warnings)
            events.append(self._quality)
        events.append(self.samples_event(epoch, step, self.G_average))
        return events

    def final_quality(self) -> dict | None:
        if self._quality is None:
            return None
        return {k: v for k, v in self._quality.items() if k != "type"}

    # -- step mode --------------------------------------------------------------------------------

    def manual_step(self, which: str, epoch: int, step: int) -> list[dict]:
        """One discriminator or generator step, and the discriminator's scores right after it on
        the same images. Steps by hand share one batch and noise until a generator step, so that
        "D, D, G" shows the discriminator sharpening and then the generator answering it."""
        if which not in ("discriminator", "generator"):
            return []
        if self._manual is None:
            self._cursor = self._cursor % self.steps_per_epoch
            self._manual = self._batch(self._cursor)
            self._cursor += 1
        real, y, z = self._manual
        if which == "discriminator":
            self._d_step(real, y, z)
        else:
            self._g_step(self.G(self._g_input(z, y)), y)
            self._manual = None
        with torch.no_grad():
            real_scores, fake_scores = self._judge(real, y), self._judge(self.G(self._g_input(z, y)), y)
            d_loss = self._loss(real_scores, REAL_TARGET) + self._loss(fake_scores, 0.0)
            g_loss = self._loss(fake_scores, 1.0)
        figures = dict(d_loss=d_loss.item(), g_loss=g_loss.item(), d_real=self._probability(real_scores).item(),
                       d_fake=self._probability(fake_scores).item())
        return [GanStepEvent(type="gan_step", which=which, epoch=epoch, step=step, **figures),
                self.samples_event(epoch, step, self.G)]

    # -- weights ----------------------------------------------------------------------------------

    def weights(self) -> dict[str, torch.Tensor]:
        """The averaged generator (the one to sample from) and the discriminator, in one flat dict."""
        state = {f"generator.{k}": v for k, v in self.G_average.state_dict().items()}
        state.update({f"discriminator.{k}": v for k, v in self.D.state_dict().items()})
        return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()}

    def optimizer_state(self) -> dict:
        """Both optimizers as one ``state_dict``: the generator's parameters first."""
        g, d = self.opt_g.state_dict(), self.opt_d.state_dict()
        offset = 1 + max(i for group in g["param_groups"] for i in group["params"])
        state = dict(g["state"])
        state.update({offset + i: v for i, v in d["state"].items()})
        groups = g["param_groups"] + [{**group, "params": [offset + i for i in group["params"]]}
                                      for group in d["param_groups"]]
        return {"state": state, "param_groups": groups}

    def release_memory(self) -> None:
        for optimizer in (self.opt_g, self.opt_d):
            optimizer.zero_grad(set_to_none=True)
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()


def _code_channels(code: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A (N, 10) one-hot code as 10 constant image channels the size of ``like``."""
    return code[:, :, None, None].expand(-1, -1, like.shape[2], like.shape[3])

