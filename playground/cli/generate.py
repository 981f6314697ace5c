"""``playground generate``: write images made by a trained GAN's generator as PNG files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from playground.cli.common import UsageError


def add_commands(sub) -> None:
    p = sub.add_parser(
        "generate", help="write images made by a trained GAN's generator",
        description="Write COUNT 28x28 PNG images (white ink on black, as MNIST) made by the generator of a GAN "
                    "run folder (its best weights, else its last) or of a generator model file (`playground "
                    "export GAN_RUN --format model`), named sample_0000.png, sample_0001.png, ... The same "
                    "source, count, seed and digit give the same images, byte for byte.",
        epilog="OUT is a new folder (written under a hidden name beside it and renamed when complete) or an "
               "empty one; with --force, an existing folder: files named sample_NNNN.png are replaced and "
               "other files are kept. Exit code: 2 for a bad argument, a source that is not a GAN, or an OUT "
               "that cannot be used (nothing is written); 1 if writing failed (the message says how many images "
               "are left written).")
    p.add_argument("source", type=Path, metavar="RUN_DIR_OR_MODEL", help="a GAN run folder or a generator model file")
    p.add_argument("--count", required=True, metavar="N", help="how many images: 1 to 10,000")
    p.add_argument("--out", required=True, type=Path, metavar="FOLDER", help="the folder to write the images into")
    p.add_argument("--digit", metavar="D",
                   help="the digit to draw, 0-9 (a conditional GAN only, such as the cgan preset; without it a "
                        "conditional GAN draws 0-9 in turn)")
    p.add_argument("--seed", default="0", metavar="S",
                   help="the random seed of the latent vectors (default 0, with or without --digit: the same "
                        "command writes the same images; another seed, other images)")
    p.add_argument("--force", action="store_true", help="write into an existing folder that holds files")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: files, digit (or null), digits (each image's, for a conditional "
                        "GAN, else null), seed, count, source, out")
    p.set_defaults(func=cmd_generate)


def _whole(text: str, option: str, low: int, high: int, hint: str) -> int:
    """A whole number from ``low`` to ``high``, or a ``UsageError`` naming the option."""
    from playground.core.text import short_repr

    try:
        value = int(text.strip().replace("_", ""), 10) if len(text) <= 40 else None
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise UsageError(f"{option} must be a whole number from {low:,} to {high:,}{hint}; got {short_repr(text)}")
    return value


def cmd_generate(args: argparse.Namespace) -> int:
    from playground.core.gan_sample import (MAX_SAMPLES, MAX_SEED, GeneratorError, SamplesWriteError,
                                            check_samples_folder, load_generator, save_images)
    from playground.core.text import printable

    count = _whole(args.count, "--count", 1, MAX_SAMPLES, "")
    seed = _whole(args.seed, "--seed", 0, MAX_SEED, " (2**63 - 1)")
    digit = None if args.digit is None else _whole(args.digit, "--digit", 0, 9, "")
    try:
        check_samples_folder(args.out, args.force)  # before the model loads: a bad OUT costs nothing
        generator = load_generator(args.source)
    except GeneratorError as exc:
        raise UsageError(str(exc)) from None
    if digit is not None and not generator.conditional:
        raise UsageError(f"--digit needs a conditional GAN (such as the cgan preset); {printable(args.source)} is "
                         f"not conditional: leave out --digit")
    digits = None
    if generator.conditional:
        digits = [digit] * count if digit is not None else [i % 10 for i in range(count)]
    images = generator.images(generator.latents(seed, count), digits)
    try:
        files = save_images(images, args.out, args.force)
    except GeneratorError as exc:  # the folder changed since it was checked
        raise UsageError(str(exc)) from None
    except SamplesWriteError as exc:
        print(f"playground: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"files": [str(f) for f in files], "digit": digit, "digits": digits, "seed": seed,
                          "count": count, "source": str(args.source), "out": str(args.out)}))
    else:
        drawn = f", digit {digit}" if digit is not None else ", digits 0-9 in turn" if digits else ""
        print(f"wrote {count:,} images to {printable(args.out)} ({files[0].name} to {files[-1].name}), "
              f"seed {seed}{drawn}")
    return 0
