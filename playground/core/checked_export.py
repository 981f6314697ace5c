"""Export with check: the one call behind ``playground export`` and the Export dialog."""

from __future__ import annotations

from pathlib import Path

from playground.core.data import load_raw
from playground.core.export import ExportCheck, ExportError, check_target, export
from playground.core.export_formats import FORMATS
from playground.core.gan_export import GeneratorCheck, export_generator_checked
from playground.core.gan_sample import is_generator_source
from playground.core.predict import Classifier
from playground.core.runs import read_evaluation

CHECK_IMAGES = 300  # the first test images of MNIST, run through the model and the exported file


def export_checked(source: str | Path, fmt: str, out: str | Path) -> ExportCheck | GeneratorCheck:
    """Export the model at ``source`` (a run folder: its best weights; a model folder; or a model
    file) in ``fmt`` to ``out``, then compare the exported file with the model on the first
    :data:`CHECK_IMAGES` MNIST test images. A run's test accuracy goes into the export when its
    evaluation is usable. A GAN's run folder or generator model file exports its generator instead,
    checked on fixed latent vectors (:func:`~playground.core.gan_export.export_generator_checked`).

    ``ExportError`` for an unknown format, a bad ``out`` (before anything is loaded) or a design
    that cannot be exported; ``ExportWriteError`` (a subclass) when the file could not be written;
    ``RunError`` when ``source`` cannot be loaded."""
    source = Path(source)
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    check_target(out, fmt)
    if is_generator_source(source):
        return export_generator_checked(source, fmt, out)
    classifier = Classifier.from_path(source)
    # Only the run's evaluation, for the accuracy; without one the export does not mention it.
    evaluation = read_evaluation(source, classes=classifier.spec.num_classes) if source.is_dir() else None
    accuracy = evaluation.accuracy if evaluation is not None else None
    _, test = load_raw("mnist")
    check = export(fmt, out, classifier.spec, classifier.model.state_dict(), accuracy,
                   check_images=test.images[:CHECK_IMAGES], classes=classifier.classes,
                   preprocess=classifier.preprocess)
    assert check is not None  # given check images, export always checks
    return check
