"""``playground train`` and ``playground evaluate``: the training engine on the command line."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

from playground.cli.common import UsageError, add_design_source, resolve_design
from playground.core.config import SETTINGS, ConfigError, SettingSpec, TrainConfig, format_number
from playground.core.units import format_eta
from playground.core.text import counted


def add_commands(sub) -> None:
    p = sub.add_parser(
        "train", help="train a design (a classifier or a GAN) on MNIST and save the run",
        description="Train a design (its preset's settings, then your options on top). Writes a run "
                    "folder with the design, config, metrics, weights and test evaluation. Ctrl+C stops "
                    "the run and keeps its weights. A GAN design (--preset gan-mlp, dcgan or cgan, or a "
                    "file of kind \"gan\") trains its generator and discriminator and reports the "
                    "quality of the generated digits each epoch instead of a test accuracy; with --json "
                    "its live sample images are left out (`playground generate` makes images).",
        epilog="Exit code: 0 if the run completed or was stopped; 1 if it failed (the loss diverged, the "
               "device ran out of memory, or a file could not be written to the run folder: the message "
               "says which weights are kept); 2 for bad arguments or input, or an --out folder that "
               "cannot be used.")
    add_design_source(p, gan=True)
    add_setting_flags(p.add_argument_group("training settings (defaults: the preset's, else these)"))
    p.add_argument("--data", type=Path, metavar="FOLDER", help="train on your own images: a folder with one "
                   "subfolder of images per class (named after the class; train/ and test/ used when present). "
                   "Sets --dataset folder and --data-folder FOLDER; a design whose last Linear layer has "
                   "another width than the number of classes gets that width (said on stderr)")
    p.add_argument("--out", type=Path, metavar="DIR", help="the run folder: a new or empty folder, which "
                   "this training owns while it runs (default: a new folder under the user data folder)")
    p.add_argument("--json", action="store_true", help="print one JSON object per event")
    p.add_argument("--nproc", type=int, metavar="N", help="train with N data-parallel processes on this "
                   "machine (PyTorch DDP: gloo on CPUs, NCCL with one GPU each), the same as `torchrun "
                   "--standalone --nproc_per_node=N -m playground train ...`; --batch-size is the global "
                   "batch, shared among them (default 1: one process)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a run's model on the test set",
                       description="Accuracy, per-class precision, recall and F1 and the confusion "
                                   "matrix of a run's best (or last) weights on its test set.")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("--weights", choices=["best", "last"], default="best")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)


_METAVARS = {"int": "N", "float": "X", "text": "NAME"}
LIVE_ONLY_EVENTS = frozenset({"samples"})  # a GAN's live images: not printed (`playground generate` makes them)


def quality_line(q: dict[str, Any]) -> str:
    """A GAN's quality figures in one line."""
    rarest = min(range(10), key=lambda d: q["histogram"][d])
    line = (f"quality: {q['confident_share']:.1%} of {q['count']:,} generated digits classified with "
            f"confidence >= 0.9, rarest digit {rarest} ({q['histogram'][rarest] / max(1, q['count']):.1%}), "
            f"Frechet distance {q['frechet']:.2f}")
    if q.get("digit_accuracy") is not None:
        line += f", the digit asked for {q['digit_accuracy']:.1%}"
    return line + "".join(f"\n  {text}" for text in [q["message"], *q["warnings"]] if text)


def add_setting_flags(group) -> None:
    """A flag for every training setting, with its label, unit, range and default in ``--help``."""
    for spec in SETTINGS.values():
        kwargs: dict[str, Any] = {"dest": spec.name, "default": None,
                                  "help": _flag_help(spec).replace("%", "%%")}  # argparse formats help with %
        if spec.kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif spec.kind == "choice":
            kwargs["choices"] = list(spec.choices)
        else:
            kwargs["type"] = {"int": int, "float": float, "text": str}[spec.kind]
            kwargs["metavar"] = spec.metavar or _METAVARS[spec.kind]
        group.add_argument(spec.flag, **kwargs)


def _flag_help(spec: SettingSpec) -> str:
    """``Learning rate, above 0 and at most 1e30 (default 0.001): The size of each step...``"""
    text = spec.title
    if spec.kind in ("int", "float"):
        text += f", {spec.range_text()} (default {format_number(spec.default)})"
    elif spec.kind != "bool":
        text += f" (default {spec.default})" if spec.default != "" else " (default: none)"
    for other, allowed in spec.applies_to.items():
        other_spec = SETTINGS[other]
        text += (f", with {other_spec.flag}" if other_spec.kind == "bool"
                 else f", with {other_spec.flag} {' or '.join(allowed)}")
    return f"{text}: {spec.help}"


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    from playground.core.gan_spec import GAN_PRESETS
    from playground.core.presets import get_preset

    base: dict[str, Any] = {}
    if args.preset:
        base = dict(GAN_PRESETS[args.preset].train if args.preset in GAN_PRESETS else get_preset(args.preset).train)
    for name in SETTINGS:
        value = getattr(args, name)
        if value is not None:
            base[name] = value
    if getattr(args, "data", None) is not None:
        _check_data_flags(args)
        base["dataset"], base["data_folder"] = "folder", str(args.data)
    try:
        return TrainConfig.from_dict(base, "options")
    except ConfigError as exc:
        raise UsageError(str(exc).removeprefix("options: ")) from None


def _check_data_flags(args: argparse.Namespace) -> None:
    """``UsageError`` when --data comes with a --dataset or --data-folder that says otherwise."""
    if getattr(args, "dataset", None) not in (None, "folder"):
        raise UsageError(f"--data FOLDER trains on a folder; it conflicts with --dataset {args.dataset}: "
                         f"give one of them")
    folder = getattr(args, "data_folder", None)
    if folder is not None and Path(folder).resolve() != Path(args.data).resolve():
        raise UsageError(f"--data {args.data} and --data-folder {folder} name different folders: give one of them")


class ProgressPrinter:
    """A one-line progress bar with ETA on a terminal; one line per epoch elsewhere."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self.epochs = 0
        self.histograms: dict[str, Any] | None = None  # the latest snapshot, for gradient warnings
        self.warned: set[str] = set()

    def __call__(self, e: dict[str, Any]) -> None:
        kind = e["type"]
        if kind == "start":
            self.epochs = e["epochs"]
            where = e["device"]
            if e.get("world_size", 1) > 1:
                where = (f"{e['world_size']} processes ({e['backend']}, {e['device'].split(':')[0]}, "
                         f"{e['rank_batch_size']} of each batch of {e['batch_size']} per process)")
            print(f"training on {where}: {e['train_size']:,} images, {e['val_size']:,} for validation, "
                  f"{counted(e['parameters'], 'parameter')}, {counted(e['epochs'], 'epoch')}", file=self.stream)
        elif kind == "progress" and self.tty:
            frac = e["step"] / e["total_steps"]
            bar = "#" * int(frac * 30)
            line = (f"\repoch {e['epoch']}/{self.epochs} [{bar:<30}] {frac:4.0%}  "
                    f"{e['samples_per_second']:,.0f} img/s  ETA {format_eta(e['eta_seconds'])}  "
                    f"loss {e['train_loss']:.4f}  acc {e['train_accuracy']:.2%}")
            self.stream.write(line)
            self.stream.flush()
        elif kind == "epoch":
            val = (f"  val loss {e['val_loss']:.4f}  val acc {e['val_accuracy']:.2%}"
                   if e["val_accuracy"] is not None else "")
            if self.tty:
                self.stream.write("\r\x1b[K")
            print(f"epoch {e['epoch']}/{self.epochs}  train loss {e['train_loss']:.4f}  "
                  f"train acc {e['train_accuracy']:.2%}{val}  ({e['seconds']:.1f} s)", file=self.stream)
            self._gradient_warnings()
        elif kind == "histograms":
            self.histograms = e
        elif kind == "quality":
            print(f"  {quality_line(e)}", file=self.stream)
        elif kind in ("paused", "resumed", "stopped"):
            if self.tty:
                self.stream.write("\r\x1b[K")
            print(kind, file=self.stream)


    def _gradient_warnings(self) -> None:
        """The latest snapshot's vanishing, exploding or dead gradients, each said once."""
        from playground.core.histograms import gradient_warnings

        if self.histograms is None:
            return
        for text in gradient_warnings(self.histograms):
            if text not in self.warned:
                self.warned.add(text)
                print(f"  warning: {text}", file=self.stream)


def cmd_train(args: argparse.Namespace) -> int:
    """One process, one rank of a torchrun job (its variables in the environment), or, with --nproc N
    > 1, the launcher of N ranks."""
    config = config_from_args(args)
    if args.nproc is not None:
        code = _launch(args, config)
        if code is not None:
            return code
    from playground.core import distributed

    ctx = _torchrun_context(config)
    if ctx.enabled:
        distributed.die_on_stop_signals()  # until it trains (also when not started through __main__)
    try:
        return _train(args, config, ctx)
    except UsageError as exc:
        if ctx.enabled and getattr(exc, "every_rank", False):  # the same on every rank: rank 0 says it
            if not ctx.is_main:
                return 2
            raise
        if ctx.enabled:  # this rank's own problem: which one
            raise UsageError(f"rank {ctx.rank}: {exc}") from None
        raise
    finally:
        distributed.destroy_process_group()


def _launch(args: argparse.Namespace, config: TrainConfig) -> int | None:
    """--nproc N: start N ranks and wait for them (the exit code), or None for N = 1 (train here)."""
    try:
        from playground.cli.train_launch import check_launch, launch

        n = check_launch(args, config)
        return launch(args, n) if n > 1 else None
    except KeyboardInterrupt:  # Ctrl+C while the launcher checks (and imports torch): nothing started yet
        print("playground: interrupted (SIGINT): stopped before training began; nothing was written",
              file=sys.stderr)
        return 130


def _every_rank(message: str) -> UsageError:
    """A ``UsageError`` every rank of a torchrun job meets alike (the input's): said once, by rank 0."""
    exc = UsageError(message)
    exc.every_rank = True
    return exc


def _torchrun_context(config: TrainConfig):
    """This process's place in a torchrun job (one process without one); ``UsageError`` when its
    variables are inconsistent."""
    import os

    import torch

    from playground.core import distributed
    from playground.core.config import resolve_device

    try:
        ctx = distributed.context_from_env(device=resolve_device(config.device))
    except (distributed.DistributedError, ConfigError) as exc:
        raise UsageError(str(exc)) from None
    if ctx.enabled and ctx.backend == "gloo" and "OMP_NUM_THREADS" not in os.environ:
        # The ranks on this machine share its cores (torchrun sets OMP_NUM_THREADS=1 itself).
        local = int(os.environ.get("LOCAL_WORLD_SIZE", ctx.world_size))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, local)))
    return ctx


def _prepare(args: argparse.Namespace, config: TrainConfig, ctx):
    """The design, the data and the trainer (with its run folder on rank 0); ``UsageError`` for bad
    input, before anything is written."""
    from playground.core import distributed
    from playground.core.data import DataError, load_config_dataset
    from playground.core.gan_spec import GanSpec
    from playground.core.runs import RunFolderError, check_new_run_dir
    from playground.core.spec import DesignError
    from playground.core.train import Trainer

    spec = resolve_design(args)
    gan = isinstance(spec, GanSpec)
    if gan and ctx.enabled:
        raise _every_rank("data-parallel training is for classifiers; train a GAN in one process")
    if gan and config.dataset == "folder":
        raise UsageError("a GAN trains on MNIST only (its quality is measured against MNIST digits); "
                         "--data / --dataset folder are for classifiers")
    if args.out is not None and ctx.is_main:
        try:
            check_new_run_dir(args.out)
        except RunFolderError as exc:
            raise UsageError(str(exc)) from None
    try:
        # Load the data before anything is written, so that an unavailable data set leaves no run folder.
        # (Ranks may load at once: the bundled MNIST is extracted into the cache atomically.)
        data = load_config_dataset(config)
        if ctx.enabled:  # enough images and a batch large enough for every rank (the trainer's check)
            distributed.steps_per_epoch(len(data.train), config.batch_size, ctx.world_size)
        if not gan:
            spec = _fit_classes(spec, data, args.json, say=ctx.is_main)
        trainer = Trainer(spec, config, data=data, task="gan" if gan else "classifier", dist=ctx)
    except (DesignError, ConfigError, DataError) as exc:
        raise _every_rank(str(exc)) from None
    return spec, trainer, gan


def _name_run_dir(args: argparse.Namespace, trainer, spec) -> None:
    """Rank 0's run folder (the others write none): --out, else a new one under the user data folder."""
    from playground.core.paths import runs_dir
    from playground.core.runs import new_run_dir

    try:
        trainer.run_dir = args.out if args.out is not None else new_run_dir(runs_dir(), spec.name)
    except OSError as exc:
        raise UsageError(f"cannot create the run folder: {exc}") from None


def _train(args: argparse.Namespace, config: TrainConfig, ctx) -> int:
    from playground.core import distributed
    from playground.core.runs import RunFolderError, RunWriteError
    from playground.core.shapes import infer_shapes, memory_line
    from playground.core.text import printable

    spec, trainer, gan = _prepare(args, config, ctx)
    if not args.json and not gan and ctx.is_main:
        print(f"memory: {memory_line(infer_shapes(spec), config.batch_size)}", file=sys.stderr)
    if hasattr(signal, "SIGXFSZ"):
        # Past a file size limit, report the failed write (EFBIG) instead of being killed.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    # First Ctrl+C: stop between steps and keep the weights; a second one aborts. Under torchrun the
    # agent passes its stop signal on to each rank (SIGINT, SIGTERM, SIGHUP or SIGQUIT): the same, and
    # the ranks agree on the step. A rank handles them once it trains (before, they kill it at once).
    def on_interrupt(signum, frame):
        if trainer.control.stop_requested:
            raise KeyboardInterrupt
        trainer.stop()

    stop_signals = distributed.STOP_SIGNALS if ctx.enabled else (signal.SIGINT,)
    previous: dict = {}
    final: dict[str, Any] = {}
    try:
        distributed.init_process_group(ctx)
        if ctx.is_main:  # the run folder is rank 0's alone; made once the ranks are together
            _name_run_dir(args, trainer, spec)
            distributed.record_launch_state(run_dir=str(trainer.run_dir))
        previous = {sig: signal.signal(sig, on_interrupt) for sig in stop_signals}
        final = _print_events(trainer, args, ctx)
    except distributed.DistributedError as exc:
        raise UsageError(str(exc)) from None
    except RunFolderError as exc:  # the folder could not be started: nothing was written
        raise UsageError(str(exc)) from None
    except RunWriteError as exc:  # a write failed during the run
        _print_error(args, "RunWriteError", printable(exc))
        return 1
    except Exception as exc:
        if not (ctx.enabled and distributed.is_lost_contact(exc)):
            raise
        if ctx.is_main:  # the others stay quiet: the launcher names the rank that stopped
            _print_error(args, "LostContact", f"{distributed.lost_contact_message(ctx)}; {_kept(trainer.run_dir)}")
            distributed.record_launch_state(status="failed")
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    if ctx.is_main:
        distributed.record_launch_state(status=final["status"])
    if not args.json and ctx.is_main:
        _print_final(final, gan)
    return {"completed": 0, "stopped": 0}.get(final["status"], 1)


def _print_error(args: argparse.Namespace, kind: str, message: str) -> None:
    """A failed run's message on stderr (and as a JSON ``error`` object on stdout with --json)."""
    if args.json:
        print(json.dumps({"type": "error", "error": kind, "message": message}), flush=True)
    print(f"playground: error: {message}", file=sys.stderr)


def _kept(run_dir) -> str:
    """Which weights a failed run folder keeps."""
    from playground.core.text import printable

    from playground.core.runs import LAST_WEIGHTS

    if run_dir is not None and (Path(run_dir) / LAST_WEIGHTS).is_file():
        return f"the last epoch's weights are kept in {printable(run_dir)}"
    return f"no epoch had finished, so no weights were kept (the run folder: {printable(run_dir)})"


def _print_events(trainer, args: argparse.Namespace, ctx) -> dict[str, Any]:
    """Run the trainer, printing its events (rank 0's only); the ``finished`` one."""
    show = ProgressPrinter(sys.stderr)  # the stderr of now (tests capture it), not of import time
    final: dict[str, Any] = {}
    for event in trainer.run():
        if ctx.is_main:  # under torchrun the other ranks print nothing
            if not args.json:
                show(event)
            elif event["type"] not in LIVE_ONLY_EVENTS:
                print(json.dumps(event), flush=True)
        if event["type"] == "finished":
            final = event
    return final


def _print_final(final: dict[str, Any], gan: bool) -> None:
    from playground.core.text import printable

    acc = final["test_accuracy"]
    print(f"{final['status']}: {final['message']}")
    if acc is not None:
        processes = f", {final['world_size']} processes" if final.get("world_size", 1) > 1 else ""
        print(f"test accuracy {acc:.2%}  ({final['train_seconds']:.1f} s of training, "
              f"{final['samples_per_second']:,.0f} images/s{processes})")
    elif not gan and final["status"] == "completed":
        print("no test accuracy: the data set has no test images")
    if final.get("quality"):
        print(f"{quality_line(final['quality'])}  ({final['train_seconds']:.1f} s of training)")
    print(f"run folder: {printable(final['run_dir'])}")


def _fit_classes(spec, data, quiet: bool, say: bool = True):
    """``spec`` made for the data set's number of classes (its last Linear layer's width adapted),
    saying so on stderr (also with --json: stdout stays JSON); the skipped files of a folder data
    set are counted there too."""
    from playground.core.shapes import adapt_to_classes
    from playground.core.text import printable
    from playground.core.train import MAX_SKIPPED_LISTED

    spec, message = adapt_to_classes(spec, data.num_classes)
    if not say:  # a rank other than 0 of a torchrun job: rank 0 says it
        return spec
    if message:
        print(f"playground: note: {message}", file=sys.stderr)
    if data.skipped:
        path, reason = data.skipped[0]
        print(f"playground: note: {counted(len(data.skipped), 'file')} of the data folder skipped (the first: "
              f"{printable(path)}: {printable(reason)}); the run folder's run.json lists them all "
              f"(\"skipped_files\", the first {MAX_SKIPPED_LISTED:,})", file=sys.stderr)
    return spec


def cmd_evaluate(args: argparse.Namespace) -> int:
    from playground.core.data import DataError, load_config_dataset
    from playground.core.metrics import evaluate
    from playground.core.runs import RunError, load_run

    try:
        run = load_run(args.run_dir)
        model = run.load_model(args.weights)
        cfg = run.config
        data = load_config_dataset(cfg)
    except (RunError, DataError) as exc:
        raise UsageError(str(exc)) from None
    from playground.core.text import printable

    for note in run.notes:
        print(f"playground: note: {printable(run.path)}: {printable(note)}", file=sys.stderr)
    if not len(data.test):
        message = "the data set has no test images (all of them skipped, or none): nothing to evaluate"
        if args.json:
            print(json.dumps({"run_dir": str(run.path), "weights": args.weights, "status": run.status,
                              "classes": run.classes, "accuracy": None, "count": 0, "message": message}))
        print(f"playground: {message}", file=sys.stderr)
        return 1
    result = evaluate(model, data.test.images, data.test.labels, loss=cfg.loss)
    if args.json:
        print(json.dumps({"run_dir": str(run.path), "weights": args.weights, "status": run.status,
                          "classes": run.classes, **result.to_dict()}))
    else:
        print(f"{printable(run.label)}, {args.weights} weights, {printable(run.path)} ({run.status})")
        print(result.format(run.classes))
    return 0
