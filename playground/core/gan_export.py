"""Exporting a GAN's generator in the formats a classifier exports to, and checking each export.

- ``model``: a generator model file (:func:`~playground.core.gan_sample.save_generator_file`): the
  generator's weights, the GAN design in the metadata; ``load_generator`` and ``playground generate``
  open it.
- ``torchscript`` and ``onnx``: input ``latent`` (N, latent size) float32, standard normal; a
  conditional generator has a second input ``digit_onehot`` (N, 10) float32, the digit asked for as a
  one-hot code (two inputs rather than one joined vector, so that nobody has to know the order they are
  joined in). Output ``image`` (N, 1, 28, 28) in [-1, 1] (the Tanh's): pixel = (image + 1) * 127.5,
  0 black background, 255 white ink. Any batch size.
- ``script``: a ``Generator(nn.Sequential)`` written by the layer catalog, ``load()``, ``latents(seed,
  count)``, ``generate(count, seed, digit, out)`` (the same images as ``playground generate``; PNGs
  written without Pillow) and a command line, with the weights beside it; it needs only torch,
  safetensors and numpy. Proven as the classifier's script is: the design's text goes only into its
  docstring, escaped, and its code equals that of a neutral name and description.

The check runs each exported file on :data:`CHECK_SAMPLES` fixed latent vectors (seed
:data:`CHECK_SEED`; digits 0-9 in turn for a conditional generator) and compares the output with the
app's own generator: the largest difference must be under :data:`CHECK_TOLERANCE`.
"""

from __future__ import annotations

import ast
import contextlib
import io
import math
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from playground.core.atomic import atomic_write_bytes, atomic_write_text
from playground.core.export import (_NEUTRAL_NAME, ExportError, ExportWriteError, _code_without_docstring,
                                    _network_code, _restored_on_failure, _string_literal, check_target,
                                    load_script_module, onnx_bytes)
from playground.core.export_formats import FORMATS
from playground.core.gan_sample import (BATCH, MAX_SAMPLES, GeneratorModel, load_generator, load_generator_file,
                                        save_generator_file)
from playground.core.gan_spec import GanSpec, infer_gan_shapes
from playground.core.spec import NUM_CLASSES
from playground.core.weights import save_weights

CHECK_SAMPLES = 64
CHECK_SEED = 0
CHECK_TOLERANCE = 1e-4  # on the Tanh output, in [-1, 1]


@dataclass(frozen=True)
class GeneratorCheck:
    """How the exported generator's outputs compare with the app's on the same fixed latent vectors."""

    format: str
    path: str
    samples: int
    max_abs_difference: float  # largest difference of any output value (Tanh's [-1, 1])
    seconds: float

    @property
    def passed(self) -> bool:
        return math.isfinite(self.max_abs_difference) and self.max_abs_difference < CHECK_TOLERANCE

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "generator", **asdict(self), "passed": self.passed}

    def format_text(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        return (f"check {verdict}: {self.samples} fixed latent vectors (seed {CHECK_SEED}), largest output "
                f"difference {self.max_abs_difference:.2e} (must be under {CHECK_TOLERANCE:.0e})")


class ConditionedGenerator(nn.Module):
    """A conditional generator with the latent vector and the digit's one-hot code as two inputs."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, latent: torch.Tensor, digit_onehot: torch.Tensor) -> torch.Tensor:
        return self.generator(torch.cat([latent, digit_onehot], dim=1))


def _exported_module(gen: GeneratorModel) -> tuple[nn.Module, tuple[torch.Tensor, ...], list[str]]:
    """The module to trace, example inputs and the inputs' names."""
    example = torch.zeros(2, gen.latent_size)
    if gen.conditional:
        return ConditionedGenerator(gen.module).eval(), (example, torch.zeros(2, NUM_CLASSES)), \
            ["latent", "digit_onehot"]
    return gen.module.eval(), (example,), ["latent"]


def export_generator_torchscript(path: Path, gen: GeneratorModel) -> None:
    module, example, _ = _exported_module(gen)
    with torch.no_grad():
        traced = torch.jit.trace(module, example)
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def onnx_description(gen: GeneratorModel) -> str:
    inputs = f"latent (N, {gen.latent_size}) float32, standard normal"
    if gen.conditional:
        inputs += "; digit_onehot (N, 10) float32, the digit to draw as a one-hot code"
    return (f"The generator of the GAN {gen.spec.name!r} (Neural Network Playground). Inputs: {inputs}. Output: "
            f"image (N, 1, 28, 28) in [-1, 1]; pixel = (image + 1) * 127.5, 0 black background, 255 white ink.")


def export_generator_onnx(path: Path, gen: GeneratorModel) -> None:
    module, example, names = _exported_module(gen)
    batch = torch.export.Dim("batch")
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        # Both inputs share the batch dimension; torch says it names it once: not the user's concern.
        warnings.filterwarnings("ignore", message=r"# The axis name", category=UserWarning)
        program = torch.onnx.export(module, example, None, dynamo=True, input_names=names, output_names=["image"],
                                    dynamic_shapes=tuple({0: batch} for _ in names))
    proto = program.model_proto
    proto.doc_string = onnx_description(gen)
    atomic_write_bytes(path, onnx_bytes(proto))


# -- the readable script --------------------------------------------------------------------------


def generator_script_docstring(spec: GanSpec) -> str:
    name = " ".join(spec.name.split()) or "untitled"
    description = spec.description or "A GAN's generator of 28x28 images of handwritten digits."
    parameters = infer_gan_shapes(spec).generator.total_parameters
    digit = " [--digit 3]" if spec.conditional else ""
    inputs = (f"(N, {spec.latent_size}) standard normal, followed by the digit's one-hot code (N, 10): joined, "
              f"(N, {spec.latent_size + NUM_CLASSES})" if spec.conditional
              else f"(N, {spec.latent_size}) standard normal")
    return (f"{name}: the generator of a GAN trained with the Neural Network Playground, as plain PyTorch.\n\n"
            f"{description}\n"
            f"{int(parameters):,} parameters. Needs only torch, safetensors and numpy:\n\n"
            f"    python {{this file}} --count 16 --out samples{digit} [--seed 0]\n"
            "    # or: from this_module import load, generate; images = generate(16, seed=0)\n\n"
            f"Input of Generator: latent vectors {inputs}.\n"
            "Output: (N, 1, 28, 28) in [-1, 1]; to_pixels gives uint8 images, 0 black background, 255 white ink\n"
            "(as MNIST). generate(count, seed) gives the same images as `playground generate` with that seed.\n")


_GENERATOR_SCRIPT_BODY = r'''

def load(weights=WEIGHTS):
    """The generator with its trained weights, in eval mode."""
    net = Generator()
    net.load_state_dict(load_file(str(weights)))
    return net.eval()


def latents(seed, count):
    """The latent vectors (count, LATENT_SIZE) the Playground uses for a seed: standard normal numbers
    from a torch generator seeded with it."""
    return torch.randn(count, LATENT_SIZE, generator=torch.Generator().manual_seed(seed))


def generator_input(z, digits=None):
    """The generator's input: z, followed by each row's digit as a one-hot code when conditional."""
    if not CONDITIONAL:
        return z
    onehot = nn.functional.one_hot(torch.as_tensor(digits, dtype=torch.int64), 10)
    return torch.cat([z, onehot.to(torch.float32)], dim=1)


def outputs(net, z, digits=None):
    """The generator's output (N, 1, 28, 28) in [-1, 1], in batches of BATCH as the Playground does."""
    x = generator_input(torch.as_tensor(z, dtype=torch.float32), digits)
    with torch.no_grad():
        return torch.cat([net(x[i:i + BATCH]) for i in range(0, len(x), BATCH)])


def to_pixels(output):
    """uint8 images (N, 28, 28): 0 black background, 255 white ink, as MNIST stores them."""
    pixels = ((output.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return pixels.reshape(-1, 28, 28).numpy()


def png_bytes(image):
    """A uint8 image (H, W) as the bytes of a grayscale PNG file (no Pillow needed)."""
    height, width = image.shape
    raw = b"".join(b"\x00" + np.ascontiguousarray(image[row], np.uint8).tobytes() for row in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def generate(count, seed=0, digit=None, out=None, net=None):
    """count uint8 images (count, 28, 28), the same as `playground generate` with this seed. digit: the
    digit to draw (a conditional GAN only; None draws 0-9 in turn). With out (a folder), also writes
    them there as sample_0000.png, sample_0001.png, ..."""
    if not 1 <= count <= MAX_COUNT:
        raise ValueError(f"count must be from 1 to {MAX_COUNT}")
    if digit is not None and not CONDITIONAL:
        raise ValueError("this GAN is not conditional: it cannot be asked for a digit")
    if digit is not None and digit not in range(10):
        raise ValueError("digit must be a whole number from 0 to 9")
    digits = ([digit] * count if digit is not None else [i % 10 for i in range(count)]) if CONDITIONAL else None
    images = to_pixels(outputs(net if net is not None else load(), latents(seed, count), digits))
    if out is not None:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images):
            (folder / f"sample_{i:04d}.png").write_bytes(png_bytes(image))
    return images


def main(argv=None):
    """Write generated images as PNG files."""
    import argparse

    parser = argparse.ArgumentParser(description="Generate 28x28 images of digits (white ink on black) as "
                                     "PNG files, as the Playground does.")
    parser.add_argument("--count", type=int, default=16, help=f"how many images (1 to {MAX_COUNT})")
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same images")
    parser.add_argument("--digit", type=int, help="the digit to draw (a conditional GAN only)")
    parser.add_argument("--out", required=True, help="the folder to write sample_0000.png ... into")
    args = parser.parse_args(argv)
    if not WEIGHTS.is_file():  # a script copied without its weights
        print(f"{WEIGHTS.name} not found next to the script: copy it along", file=sys.stderr)
        return 2
    try:
        generate(args.count, args.seed, args.digit, args.out)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"wrote {args.count} images to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''


def _render_generator_script(spec: GanSpec, weights_name: str) -> str:
    lines, classes = _network_code(spec.stack("generator"), check_output=False)
    return _string_literal(generator_script_docstring(spec)) + f"""

import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

WEIGHTS = Path(__file__).with_name({weights_name!r})
LATENT_SIZE = {int(spec.latent_size)}
CONDITIONAL = {bool(spec.conditional)}
BATCH = {BATCH}
MAX_COUNT = {MAX_SAMPLES}
{classes}

class Generator(nn.Sequential):
    def __init__(self):
        super().__init__(
{chr(10).join(lines)}
        )
""" + _GENERATOR_SCRIPT_BODY


def generator_script_source(spec: GanSpec, weights_name: str) -> str:
    """The generator's script, proven as the classifier's is (:func:`playground.core.export.script_source`):
    it parses, its docstring is exactly the intended text, and its code equals that of a neutral name
    and description. ``ExportError`` otherwise."""
    source = _render_generator_script(spec, weights_name)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError) as exc:
        raise ExportError(f"the generated script does not parse ({exc}); nothing was written") from None
    if ast.get_docstring(tree, clean=False) != generator_script_docstring(spec):
        raise ExportError("the generated script's docstring is not the design's text; nothing was written")
    neutral = replace(spec, name=_NEUTRAL_NAME, description="")
    if _code_without_docstring(tree) != _code_without_docstring(ast.parse(_render_generator_script(neutral,
                                                                                                    weights_name))):
        raise ExportError("the generated script holds code that came from the design's text; nothing was written")
    return source


def export_generator_script(path: Path, gen: GeneratorModel) -> Path:
    """Writes ``path`` (.py) and the generator's weights beside it (``.safetensors``), the weights first;
    if the script cannot be written, the earlier weights are put back."""
    weights = path.with_suffix(".safetensors")
    if weights == path:
        raise ExportError(f"{path}: a script export needs a .py name (its weights go beside it as .safetensors)")
    if weights.is_dir():
        raise ExportError(f"{weights} is a folder; the script's weights go there: choose another name")
    source = generator_script_source(gen.spec, weights.name)
    with _restored_on_failure(weights):
        save_weights(weights, gen.state_dict())
        atomic_write_text(path, source)
    return weights


# -- export and check ------------------------------------------------------------------------------


def check_inputs(gen: GeneratorModel) -> tuple[torch.Tensor, list[int] | None]:
    """The fixed latent vectors (and digits, 0-9 in turn, for a conditional generator) of the check."""
    digits = [i % NUM_CLASSES for i in range(CHECK_SAMPLES)] if gen.conditional else None
    return gen.latents(CHECK_SEED, CHECK_SAMPLES), digits


def _run_exported_generator(fmt: str, path: Path, gen: GeneratorModel, z: torch.Tensor,
                            digits: list[int] | None) -> np.ndarray:
    onehot = (torch.nn.functional.one_hot(torch.tensor(digits), NUM_CLASSES).float() if digits is not None else None)
    if fmt == "model":
        return load_generator_file(path).outputs(z, digits).numpy()
    if fmt == "torchscript":
        module = torch.jit.load(str(path))
        with torch.no_grad():
            return (module(z) if onehot is None else module(z, onehot)).numpy()
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = {"latent": z.numpy()} if onehot is None else {"latent": z.numpy(), "digit_onehot": onehot.numpy()}
        return session.run(None, feed)[0]
    if fmt == "script":
        module = load_script_module(path, generator_script_source(gen.spec, path.with_suffix(".safetensors").name))
        return module.outputs(module.load(), z, digits).numpy()
    raise ExportError(f"unknown format {fmt!r}")


def check_generator_export(fmt: str, path: str | Path, gen: GeneratorModel) -> GeneratorCheck:
    """Run the exported file on the check's fixed latent vectors and compare with ``gen``'s output."""
    start = time.perf_counter()
    z, digits = check_inputs(gen)
    expected = gen.outputs(z, digits).numpy()
    got = _run_exported_generator(fmt, Path(path), gen, z, digits)
    difference = float(np.abs(expected - got).max()) if got.shape == expected.shape else math.inf
    return GeneratorCheck(fmt, str(path), len(z), difference, time.perf_counter() - start)


def export_generator(fmt: str, path: str | Path, gen: GeneratorModel, check: bool = True) -> GeneratorCheck | None:
    """Export ``gen`` in ``fmt`` to ``path`` (built in memory, written atomically: a failed write is an
    ``ExportWriteError`` and leaves any earlier file unchanged), then check it unless ``check`` is False."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    path = check_target(path, fmt)
    writers = {"model": lambda: save_generator_file(path, gen.spec, gen.state_dict()),
               "torchscript": lambda: export_generator_torchscript(path, gen),
               "onnx": lambda: export_generator_onnx(path, gen),
               "script": lambda: export_generator_script(path, gen)}
    try:
        writers[fmt]()
    except OSError as exc:
        earlier = "any earlier files are" if fmt == "script" else "any earlier file is"
        raise ExportWriteError(f"{path}: cannot be written ({exc.strerror or exc}); {earlier} unchanged") from None
    return check_generator_export(fmt, path, gen) if check else None


def export_generator_checked(source: str | Path, fmt: str, out: str | Path) -> GeneratorCheck:
    """A GAN run's (or a generator model file's) generator exported to ``out`` and checked: the
    generator side of :func:`playground.core.checked_export.export_checked`."""
    check = export_generator(fmt, out, load_generator(source))
    assert check is not None
    return check
