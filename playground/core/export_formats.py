"""The export formats, listed once for the exporter, the command line and the Export dialog.

Without torch, so that building the command line's parser does not load it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    """An export format: its name (``--format``), file extension, title and one line of help."""

    name: str
    extension: str
    title: str
    help: str

    @property
    def label(self) -> str:
        return f"{self.title} ({self.extension})"


EXPORT_FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("model", ".pgmodel.safetensors", "App model file",
           "Weights with the design and preprocessing: opens in this app"),
    Format("torchscript", ".pt", "TorchScript", "Runs with torch.jit.load, without this app"),
    Format("onnx", ".onnx", "ONNX", "For ONNX Runtime and other frameworks; any batch size"),
    Format("script", ".py", "PyTorch script", "The network as readable code, with its weights beside it"),
)}
FORMATS = {name: f.extension for name, f in EXPORT_FORMATS.items()}  # name -> file extension

# What each format holds for a GAN's generator (the Export dialog's help when a GAN run is chosen).
GENERATOR_HELP: dict[str, str] = {
    "model": "The generator's weights with the GAN design: `playground generate` samples from it",
    "torchscript": "Runs with torch.jit.load: input latent (N, latent size) [+ digit_onehot (N, 10)], "
                   "output image (N, 1, 28, 28) in [-1, 1]",
    "onnx": "For ONNX Runtime: inputs latent [+ digit_onehot], output image in [-1, 1]; any batch size",
    "script": "The generator as readable code with generate(count, seed, digit), its weights beside it",
}
