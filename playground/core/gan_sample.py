"""Sampling a trained GAN's generator, Qt-free: the latent explorer, ``playground generate`` and the
generator's export all go through :class:`GeneratorModel`.

A generator comes from a GAN run folder (its best weights, else its last: one flat dict of
``"generator.<key>"`` and ``"discriminator.<key>"``) or from a generator model file (what
``playground export GAN_RUN --format model`` writes: safetensors whose metadata holds the GAN design
and ``"kind": "gan"``, with the generator's own weights). Both come from strangers: the design is
parsed with the GAN design's bounds, each weight's name, dtype and shape is checked against a
generator built on the ``meta`` device before any weight is read, and the weights must be finite.

Images are the generator's output (its Tanh's [-1, 1]) as uint8 pixels: 0 is the black background
and 255 white ink, as MNIST stores them.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from playground.core.atomic import atomic_write_bytes
from playground.core.export import MODEL_FORMAT, MODEL_FORMAT_VERSION
from playground.core.gan_spec import GAN_KIND, IMAGE_SHAPE, GanSpec, build_gan, infer_gan_shapes
from playground.core.layers import CATALOG
from playground.core.runs import BEST_WEIGHTS, DESIGN_FILE, LAST_WEIGHTS, RunError
from playground.core.spec import NUM_CLASSES, DesignError, json_data, read_design_text
from playground.core.text import printable, short_repr
from playground.core.weights import (Layout, WeightsError, check_finite, check_fit, layout, load_weights,
                                     safetensors_header, save_weights)

MAX_SAMPLES = 10_000  # images in one call: 10,000 x 784 bytes, and latents of at most 1,024 floats each
MAX_SEED = 2**63 - 1  # as a run's seed (config.MAX_SEED): torch's generator takes any seed from 0 to this
BATCH = 256  # images per forward pass: bounds the activations of a large generator
GENERATOR_PIXELS = "uint8 = round((clamp(output, -1, 1) + 1) * 127.5): 0 black background, 255 white ink"
GENERATE_HINT = ("give a GAN run folder or a generator model file (`playground export GAN_RUN --format model` "
                 "writes one)")


class GeneratorError(RunError):
    """A generator cannot be loaded or asked for images; the message says what is wrong and what to do."""


# -- building the generator -----------------------------------------------------------------------


def build_generator(spec: GanSpec):
    """The generator alone as an ``nn.Sequential``; :class:`DesignError` if its stack has a problem (the
    memory budget included). The discriminator is not built: sampling never needs it."""
    report = infer_gan_shapes(spec).generator
    if not report.valid:
        raise DesignError("the generator cannot be built: " + "; ".join(p.message for p in report.problems))
    from torch import nn

    return nn.Sequential(*(CATALOG[layer.type].build(layer.params, row.in_shape)
                           for layer, row in zip(spec.generator, report.rows)))


def expected_generator_weights(spec: GanSpec) -> Layout:
    """The generator's weights (names without a prefix), from a model on the ``meta`` device."""
    with torch.device("meta"):
        return layout(build_generator(spec).state_dict())


def expected_gan_weights(spec: GanSpec) -> Layout:
    """A GAN run's weights file: ``"generator.<key>"`` and ``"discriminator.<key>"``, from models on
    the ``meta`` device (nothing allocated). ``DesignError`` if either stack cannot be built."""
    with torch.device("meta"):
        generator, discriminator = build_gan(spec)
    return {f"{prefix}.{key}": value for prefix, model in (("generator", generator), ("discriminator", discriminator))
            for key, value in layout(model.state_dict()).items()}


# -- numbers in, images out ------------------------------------------------------------------------


def to_pixels(output: torch.Tensor) -> np.ndarray:
    """A generator's output (N, 1, 28, 28), Tanh's [-1, 1], as uint8 images (N, 28, 28); values outside
    [-1, 1] (a generator without a Tanh at its end) are clipped."""
    pixels = ((output.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return pixels.reshape(-1, IMAGE_SHAPE[1], IMAGE_SHAPE[2]).numpy()


def check_count(count: Any, what: str = "count") -> int:
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 1 <= count <= MAX_SAMPLES:
        raise GeneratorError(f"{what} must be a whole number from 1 to {MAX_SAMPLES:,}; got {short_repr(count)}")
    return int(count)


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise GeneratorError(f"the seed must be a whole number from 0 to {MAX_SEED:,} (2**63 - 1); "
                             f"got {short_repr(seed)}")
    return int(seed)


def check_digits(digits: Any, count: int) -> list[int]:
    """Digits asked of a conditional generator: one whole number from 0 to 9 per latent vector."""
    if isinstance(digits, (str, bytes)) or not isinstance(digits, Sequence) and not isinstance(digits, np.ndarray):
        raise GeneratorError(f"digits must be a list of whole numbers from 0 to 9, not {short_repr(digits)}")
    if len(digits) != count:
        raise GeneratorError(f"digits must name one digit per latent vector: got {len(digits):,} for {count:,}")
    for d in digits:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or not 0 <= d < NUM_CLASSES:
            raise GeneratorError(f"a digit must be a whole number from 0 to 9; got {short_repr(d)}")
    return [int(d) for d in digits]


def slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` points from ``z0`` to ``z1`` (both included): the direction moves along the great
    circle between theirs at an even angle, and the length goes evenly from ``|z0|`` to ``|z1|``, so
    no point falls into the low-probability middle of the latent space as a straight line would.
    Two opposite or parallel directions (no single great circle) or a zero end fall back to the
    straight line."""
    steps = check_count(steps, "steps")
    a, b = torch.as_tensor(z0).reshape(-1), torch.as_tensor(z1).reshape(-1)
    if a.shape != b.shape:
        raise GeneratorError(f"the two latent vectors differ in size ({a.numel()} and {b.numel()} values)")
    dtype = a.dtype if a.is_floating_point() else torch.float32
    a64, b64 = a.double(), b.double()
    t = torch.linspace(0, 1, steps, dtype=torch.float64).unsqueeze(1)
    ra, rb = a64.norm(), b64.norm()
    omega = torch.arccos(torch.clamp((a64 @ b64) / (ra * rb), -1, 1)) if ra > 0 and rb > 0 else None
    if omega is None or torch.sin(omega) < 1e-6:
        path = (1 - t) * a64 + t * b64
    else:
        sin = torch.sin(omega)
        direction = (torch.sin((1 - t) * omega) / sin) * (a64 / ra) + (torch.sin(t * omega) / sin) * (b64 / rb)
        path = direction * ((1 - t) * ra + t * rb)
    path = path.to(dtype)
    path[0], path[-1] = a.to(dtype), b.to(dtype)  # the ends exactly, not as rounded by the arithmetic
    return path


# -- the model -------------------------------------------------------------------------------------


class GeneratorModel:
    """A GAN's generator loaded once, in eval mode on the CPU."""

    def __init__(self, spec: GanSpec, state: dict[str, torch.Tensor], source: str = "generator"):
        """``state`` is the generator's own state dict (no ``generator.`` prefix). ``GeneratorError``
        if the generator cannot be built or the weights do not fit it (checked on the ``meta`` device
        before anything is allocated) or hold NaN or infinite values."""
        self.spec, self.source = spec, printable(source)
        try:
            check_fit(self.source, layout(state), expected_generator_weights(spec))
            check_finite(self.source, state)
        except (DesignError, WeightsError) as exc:
            raise GeneratorError(f"{exc}" if isinstance(exc, WeightsError) else f"{self.source}: {exc}") from None
        self.module = build_generator(spec).eval()
        self.module.load_state_dict(state)

    @classmethod
    def from_state(cls, spec: GanSpec, state: dict[str, torch.Tensor], source: str = "GAN run") -> "GeneratorModel":
        """From a GAN run's weights dict: its ``"generator.<key>"`` entries are the generator's."""
        own = {k.removeprefix("generator."): v for k, v in state.items() if k.startswith("generator.")}
        if not own:
            raise GeneratorError(f"{printable(source)}: no generator weights in it (no 'generator.' keys); "
                                 f"{GENERATE_HINT}")
        return cls(spec, own, source)

    @property
    def latent_size(self) -> int:
        return self.spec.latent_size

    @property
    def conditional(self) -> bool:
        return self.spec.conditional

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def latents(self, seed: int, count: int) -> torch.Tensor:
        """``count`` latent vectors (count, latent_size), standard normal from a torch generator seeded
        with ``seed``: the same seed gives the same vectors, bit for bit, on any machine with this torch."""
        seed, count = check_seed(seed), check_count(count)
        generator = torch.Generator().manual_seed(seed)
        return torch.randn(count, self.latent_size, generator=generator)

    def inputs(self, z: torch.Tensor, digits: Sequence[int] | None = None) -> torch.Tensor:
        """The generator's input: ``z``, followed by each row's digit as a one-hot code when conditional."""
        z = torch.as_tensor(z)
        if z.dim() != 2 or z.shape[1] != self.latent_size or not z.is_floating_point():
            raise GeneratorError(f"latent vectors must be a float tensor (N, {self.latent_size}); got "
                                 f"{tuple(z.shape)} {str(z.dtype).removeprefix('torch.')}")
        count = check_count(z.shape[0], "the number of latent vectors")
        if not bool(torch.isfinite(z).all()):
            raise GeneratorError("latent vectors hold NaN or infinite values")
        z = z.to(torch.float32)
        if not self.conditional:
            if digits is not None:
                raise GeneratorError(f"{self.spec.name!r} is not a conditional GAN: it cannot be asked for a digit "
                                     f"(leave the digit out, or train a conditional GAN such as the cgan preset)")
            return z
        if digits is None:
            raise GeneratorError(f"{self.spec.name!r} is a conditional GAN: say which digit (0-9) each image "
                                 f"should show")
        onehot = torch.nn.functional.one_hot(torch.tensor(check_digits(digits, count)), NUM_CLASSES)
        return torch.cat([z, onehot.to(torch.float32)], dim=1)

    def outputs(self, z: torch.Tensor, digits: Sequence[int] | None = None) -> torch.Tensor:
        """The generator's raw output (N, 1, 28, 28), computed in batches of :data:`BATCH`."""
        x = self.inputs(z, digits)
        with torch.no_grad():
            return torch.cat([self.module(x[i:i + BATCH]) for i in range(0, len(x), BATCH)])

    def images(self, z: torch.Tensor, digits: Sequence[int] | None = None) -> np.ndarray:
        """uint8 images (N, 28, 28), white ink on black; ``digits`` (one per row of ``z``) is required
        for a conditional generator and refused for another."""
        return to_pixels(self.outputs(z, digits))


# -- loading ----------------------------------------------------------------------------------------


def load_generator(source: str | Path) -> GeneratorModel:
    """The generator of a GAN run folder (best weights, else last) or of a generator model file;
    ``GeneratorError`` saying what the source is and what to give instead."""
    path = Path(source)
    shown = printable(path)
    if path.is_dir():
        return _load_run_generator(path)
    if path.is_file():
        return load_generator_file(path)
    if path.exists():
        raise GeneratorError(f"{shown}: not a file or a folder; {GENERATE_HINT}")
    raise GeneratorError(f"{shown}: no such file or folder; {GENERATE_HINT}")


def _run_design(path: Path) -> GanSpec:
    shown = printable(path)
    if not (path / DESIGN_FILE).exists():
        raise GeneratorError(f"{shown}: not a run folder (no {DESIGN_FILE}); {GENERATE_HINT}")
    try:
        data = json_data(read_design_text(path / DESIGN_FILE), f"{shown}/{DESIGN_FILE}")
    except DesignError as exc:
        raise GeneratorError(f"{exc}; {GENERATE_HINT}") from None
    if isinstance(data, dict) and data.get("kind", "classifier") == "classifier":
        raise GeneratorError(f"{shown}: a classifier's run or model folder (it classifies digits; it does not "
                             f"make them); {GENERATE_HINT}")
    try:
        return GanSpec.from_dict(data, f"{shown}/{DESIGN_FILE}")
    except DesignError as exc:
        raise GeneratorError(f"{exc}; {GENERATE_HINT}") from None


def _load_run_generator(path: Path) -> GeneratorModel:
    spec = _run_design(path)
    files = [path / name for name in (BEST_WEIGHTS, LAST_WEIGHTS) if (path / name).exists()]
    if not files:
        raise GeneratorError(f"{printable(path)}: this GAN run has no weights yet ({BEST_WEIGHTS} or "
                             f"{LAST_WEIGHTS}); train it for at least one epoch")
    try:
        needed = expected_gan_weights(spec)
        state = load_weights(files[0], needed)
    except DesignError as exc:
        raise GeneratorError(f"{printable(path)}: {exc}") from None
    except WeightsError as exc:
        raise GeneratorError(str(exc)) from None
    return GeneratorModel.from_state(spec, state, str(files[0]))


def generator_metadata(spec: GanSpec) -> dict[str, str]:
    return {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, "kind": GAN_KIND,
            "design": spec.to_json(), "output": GENERATOR_PIXELS, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}


def save_generator_file(path: str | Path, spec: GanSpec, state: dict[str, torch.Tensor]) -> Path:
    """A generator model file: the generator's own weights, the GAN design in the metadata; atomic."""
    path = Path(path)
    save_weights(path, state, generator_metadata(spec))
    return path


def is_generator_source(source: str | Path) -> bool:
    """Whether ``source`` says it is a GAN: a run folder whose design has ``"kind": "gan"``, or a
    safetensors file whose metadata does. Nothing else is checked here (loading checks it all)."""
    path = Path(source)
    try:
        if path.is_dir():
            data = json.loads(read_design_text(path / DESIGN_FILE))
        elif path.is_file():
            data = safetensors_header(path)[1]
        else:
            return False
    except (DesignError, OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("kind") == GAN_KIND


def load_generator_file(path: str | Path) -> GeneratorModel:
    """A generator model file, checked before any weight is read (the header, the design, each
    weight's name, dtype and shape); ``GeneratorError`` if it is not one or is damaged."""
    path = Path(path)
    shown = printable(path)
    try:
        _, meta = safetensors_header(path)
    except (OSError, ValueError) as exc:
        raise GeneratorError(f"{shown}: {getattr(exc, 'strerror', None) or exc}; {GENERATE_HINT}") from None
    if meta.get("format") != MODEL_FORMAT:
        raise GeneratorError(f"{shown}: a safetensors file, but not a model file of this app; {GENERATE_HINT}")
    if meta.get("kind") != GAN_KIND:
        raise GeneratorError(f"{shown}: a classifier's model file (it classifies digits; it does not make them); "
                             f"{GENERATE_HINT}")
    if meta.get("format_version") != MODEL_FORMAT_VERSION:
        raise GeneratorError(f"{shown}: model file version {short_repr(meta.get('format_version'))}; this app "
                             f"reads {MODEL_FORMAT_VERSION}")
    try:
        spec = GanSpec.from_json(meta.get("design", ""), f"{shown} (its design)")
        needed = expected_generator_weights(spec)
    except DesignError as exc:
        raise GeneratorError(f"{shown}: the design in this model file cannot be used: {exc}") from None
    try:
        state = load_weights(path, needed)
    except WeightsError as exc:
        raise GeneratorError(str(exc)) from None
    return GeneratorModel(spec, state, str(path))



# -- images as PNG files -----------------------------------------------------------------------------

SAMPLE_NAME = "sample_{:04d}.png"


class SamplesWriteError(OSError):
    """Writing the images failed part-way; ``written`` of them are in the folder (0: nothing was left)."""

    def __init__(self, message: str, written: int):
        super().__init__(message)
        self.written = written


def png_bytes(image: np.ndarray) -> bytes:
    """A uint8 image (28, 28) as a grayscale PNG file's bytes (Pillow: the same image, the same bytes)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def check_samples_folder(folder: str | Path, force: bool = False) -> Path:
    """``folder`` if images can be written there: a new folder in an existing one, an empty folder, or
    (``force``) any folder; ``GeneratorError`` saying why not. Nothing is written."""
    folder = Path(folder)
    shown = printable(folder)
    if folder.exists() and not folder.is_dir():
        raise GeneratorError(f"{shown} is a file, not a folder; give a new or empty folder for the images")
    if folder.is_dir():
        try:
            held = sum(1 for _ in folder.iterdir())
        except OSError as exc:
            raise GeneratorError(f"{shown}: cannot be read ({exc.strerror or exc})") from None
        if held and not force:
            raise GeneratorError(f"{shown} is not empty ({held:,} entries); choose a new or empty folder, or add "
                                 f"--force to write into it (files named sample_NNNN.png are replaced, others kept)")
        writable = folder
    elif not folder.parent.is_dir():
        raise GeneratorError(f"{printable(folder.parent)}: no such folder; create it first or choose another place")
    else:
        writable = folder.parent
    if not os.access(writable, os.W_OK | os.X_OK):
        raise GeneratorError(f"{printable(writable)}: no permission to write in this folder; choose another place")
    return folder


def save_images(images: np.ndarray, folder: str | Path, force: bool = False) -> list[Path]:
    """Write ``images`` as ``sample_0000.png``, ... into ``folder`` (checked by
    :func:`check_samples_folder`). A new folder is written under a hidden name beside it and renamed
    when complete; into an existing folder each file is written atomically, and if writing fails
    there the files written so far are removed unless the folder held files before (``force``).
    ``SamplesWriteError`` says how many images were left written."""
    folder = check_samples_folder(folder, force)
    data = [png_bytes(image) for image in images]  # all encoded before anything is written
    if folder.exists():
        return _write_into(folder, data, keep=force and any(folder.iterdir()))
    return _write_new_folder(folder, data)


def _write_into(folder: Path, data: list[bytes], keep: bool) -> list[Path]:
    written: list[Path] = []
    try:
        for i, png in enumerate(data):
            atomic_write_bytes(folder / SAMPLE_NAME.format(i), png)
            written.append(folder / SAMPLE_NAME.format(i))
    except OSError as exc:
        if not keep:
            for path in written:
                path.unlink(missing_ok=True)
        left = f"{len(written):,} of {len(data):,} images were written" if keep else "nothing was left there"
        raise SamplesWriteError(f"cannot write into {printable(folder)} ({exc.strerror or exc}); {left}",
                                len(written) if keep else 0) from None
    return written


def _write_new_folder(folder: Path, data: list[bytes]) -> list[Path]:
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    except OSError as exc:
        raise SamplesWriteError(f"cannot create {printable(folder)} ({exc.strerror or exc}); nothing was written",
                                0) from None
    try:
        for i, png in enumerate(data):
            (tmp / SAMPLE_NAME.format(i)).write_bytes(png)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's folder is private; the result is an ordinary folder
        os.rename(tmp, folder)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SamplesWriteError(f"cannot write {printable(folder)} ({exc.strerror or exc}); nothing was written",
                                0) from None
    return [folder / SAMPLE_NAME.format(i) for i in range(len(data))]
