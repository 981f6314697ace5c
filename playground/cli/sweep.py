"""``playground sweep`` and ``playground lr-find``: tuning on the command line."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

from playground.cli.common import UsageError, add_design_source, resolve_design
from playground.cli.train import _fit_classes, add_setting_flags
from playground.core.config import SETTINGS, ConfigError, TrainConfig

RANGE_HELP = ("every setting flag takes one value, or a comma list (0.1,0.01) or a range FROM..TO xN "
              "[log|lin] (1e-4..1e-1 x4, log-spaced when both ends are above 0) to sweep; at most 4 swept")


def add_commands(sub) -> None:
    p = sub.add_parser(
        "sweep", help="train a design once per combination of up to four settings' values",
        description="Train a design once per combination of the values given to up to four settings "
                    "(--lr 0.1,0.01 --batch-size 64,256: four runs), one run after another, each a normal "
                    "run folder; then a table of the results, best validation accuracy first. Ctrl+C stops "
                    "after the current run (twice: stops it too) and still prints the finished results.",
        epilog="Exit code: 0 if the sweep ran (runs that diverged are results); 1 if no run completed; "
               "2 for bad arguments (a bad list or range).")
    add_design_source(p)
    add_setting_flags(p.add_argument_group("training settings (defaults: the preset's); " + RANGE_HELP))
    _take_lists(p)
    _add_data_flag(p)
    p.add_argument("--out", type=Path, metavar="DIR", help="the folder to put the run folders in (default: "
                   "the user's runs folder, where the window lists them)")
    p.add_argument("--json", action="store_true", help="one JSON object per finished run, then "
                   "{\"type\": \"sweep_finished\", \"results\": [...], \"best\": {...}}")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser(
        "lr-find", help="find a good learning rate (Smith 2017; fastai's lr_find)",
        description="Train a fresh copy of the design for a few steps while raising the learning rate "
                    "exponentially, and suggest the rate where the loss falls fastest. Writes nothing.")
    add_design_source(p)
    add_setting_flags(p.add_argument_group("training settings (defaults: the preset's)"))
    _add_data_flag(p)
    p.add_argument("--start-lr", type=float, default=1e-7, metavar="RATE", help="the first rate (default 1e-7)")
    p.add_argument("--end-lr", type=float, default=10.0, metavar="RATE", help="the last rate (default 10)")
    p.add_argument("--steps", type=int, default=100, metavar="N", help="steps from the first rate to the "
                   "last (default 100)")
    p.add_argument("--suggestion", choices=["steep", "valley"], default="steep",
                   help="steep: where the loss falls fastest (default); valley: part-way down the longest fall "
                        "(more careful)")
    p.add_argument("--json", action="store_true", help='one JSON object: {"suggested_lr", "lrs", "losses", ...}')
    p.set_defaults(func=cmd_lr_find)


def _add_data_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, metavar="FOLDER", help="your own images, as with `playground "
                        "train --data`: sets --dataset folder and --data-folder FOLDER; a design whose last "
                        "Linear layer has another width than the number of classes gets that width (said "
                        "on stderr)")


_ON_OFF = ("on", "off", "true", "false", "yes", "no", "1", "0")


class _OnOffAction(argparse.BooleanOptionalAction):
    """``--augment`` (on), ``--no-augment`` (off), or ``--augment on,off`` (a list to sweep)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if option_string is not None and option_string.startswith("--no-"):
            if values is not None:
                parser.error(f"{option_string} takes no value (to sweep it: {self.option_strings[0]} on,off)")
            setattr(namespace, self.dest, False)
        elif values is not None and not all(w.strip().lower() in _ON_OFF for w in values.split(",")):
            parser.error(f"{option_string} takes no value, or on,off to sweep it; got {values!r} "
                         f"(a design file goes before {option_string})")
        else:
            setattr(namespace, self.dest, True if values is None else values)


def _take_lists(parser: argparse.ArgumentParser) -> None:
    """The generated setting flags take their values as text, parsed here into one value or a list;
    a switch takes no value (on) or a list (on,off); a text setting (a folder) takes one value, as typed."""
    for action in parser._actions:
        if action.dest not in SETTINGS:
            continue
        kind = SETTINGS[action.dest].kind
        if kind == "bool":
            action.__class__, action.nargs, action.metavar = _OnOffAction, "?", "on,off"
            action.help += f" ({action.option_strings[0]} on,off: a run with it and a run without)"
            continue
        action.type, action.choices = None, None
        if kind == "choice":
            action.help += f" (one of {', '.join(SETTINGS[action.dest].choices)})"
        if kind != "text":
            action.metavar = f"{action.metavar or 'NAME'}[,...]"


def sweep_from_args(args: argparse.Namespace):
    """The base config (the preset's, with single values on top) and the ``Sweep`` of the lists."""
    from playground.core.presets import get_preset
    from playground.core.sweep import Sweep, SweepError, parse_value

    base: dict[str, Any] = dict(get_preset(args.preset).train) if args.preset else {}
    swept: dict[str, str] = {}
    if args.data is not None:
        if args.dataset is not None or args.data_folder is not None:
            raise UsageError("--data FOLDER sets --dataset and --data-folder: give one or the other")
        base["dataset"], base["data_folder"] = "folder", str(args.data)
    try:
        for name, spec in SETTINGS.items():
            value = getattr(args, name)
            if value is None:
                continue
            if isinstance(value, str) and spec.kind != "text" and ("," in value or ".." in value):
                swept[name] = value
            else:
                base[name] = value if isinstance(value, bool) else parse_value(name, value)
        sweep = Sweep.from_texts(swept)
        config = TrainConfig.from_dict(base, "options")
        sweep.grid(config)
    except (SweepError, ConfigError) as exc:
        raise UsageError(str(exc).removeprefix("options: ")) from None
    return config, sweep


def _row(result: dict[str, Any], names: list[str], best: dict | None) -> list[str]:
    from playground.core.sweep import value_text

    def pct(v):
        return f"{v:.2%}" if v is not None else "–"

    mark = "*" if best is not None and result["run_dir"] == best["run_dir"] else ""
    return [mark, *(value_text(result[n]) for n in names), pct(result["val_accuracy"]),
            pct(result["test_accuracy"]), f"{result['train_seconds']:.1f} s", result["status"], result["run_dir"]]


def results_table(final: dict[str, Any]) -> str:
    """The results as a text table, best validation accuracy first, the best marked with *."""
    from playground.core.sweep import sorted_results

    names = final["settings"]
    rows = [["", *names, "val acc", "test acc", "time", "status", "run folder"]]
    rows += [_row(r, names, final["best"]) for r in sorted_results(final["results"])]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def _print_run(event: dict[str, Any]) -> None:
    from playground.core.sweep import describe

    val, test = event["val_accuracy"], event["test_accuracy"]
    figures = (f"val {val:.2%}" if val is not None else "no validation accuracy") + \
        (f", test {test:.2%}" if test is not None else "")
    if event["status"] == "failed" and event["message"]:
        figures = event["message"].rstrip(".")
    print(f"run {event['index'] + 1}/{event['runs']}  {describe({n: event[n] for n in event['settings']})}: "
          f"{event['status']}{':' if event['status'] == 'failed' else ','} {figures} ({event['train_seconds']:.1f} s)",
          file=sys.stderr, flush=True)


def cmd_sweep(args: argparse.Namespace) -> int:
    from playground.core.data import DataError, load_config_dataset
    from playground.core.paths import runs_dir
    from playground.core.spec import DesignError
    from playground.core.sweep import SweepControl, run_sweep

    spec = resolve_design(args)
    config, sweep = sweep_from_args(args)
    try:
        data = load_config_dataset(config)  # an unavailable data set: an error before any run folder
        spec = _fit_classes(spec, data, args.json)  # as `train`: the last layer made as wide as the classes
        events = run_sweep(spec, config, sweep, args.out or runs_dir(), control=(control := SweepControl()))
        first = next(events)
    except (DesignError, ConfigError, DataError) as exc:
        raise UsageError(str(exc)) from None

    def on_interrupt(signum, frame):
        now = control.stop_requested
        control.stop(now=now)
        print("\nstopping " + ("the current run now" if now else "after the current run (Ctrl+C again: now)"),
              file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    if not args.json:
        print(f"sweep: {first['runs']} runs of {spec.name}", file=sys.stderr)
    final: dict[str, Any] = {}
    try:
        for event in events:
            kind = event["type"]
            if kind == "sweep_run":
                event = {**event, "settings": sweep.names}
                if args.json:
                    print(json.dumps(event), flush=True)
                else:
                    _print_run(event)
            elif kind == "sweep_finished":
                final = event
    finally:
        signal.signal(signal.SIGINT, previous)
    if args.json:
        print(json.dumps(final), flush=True)
    else:
        print(results_table(final))
        if final["not_run"]:
            from playground.core.sweep import describe

            print(f"stopped: not run: {'; '.join(describe(c) for c in final['not_run'])}")
    return 0 if any(r["status"] == "completed" for r in final["results"]) or final["not_run"] else 1


def cmd_lr_find(args: argparse.Namespace) -> int:
    from playground.cli.train import config_from_args
    from playground.core.data import DataError, load_config_dataset
    from playground.core.lr_find import LrFinder
    from playground.core.spec import DesignError

    spec = resolve_design(args)
    config = config_from_args(args)
    try:
        data = load_config_dataset(config)
        spec = _fit_classes(spec, data, args.json)
        finder = LrFinder(spec, config, data=data, start_lr=args.start_lr,
                          end_lr=args.end_lr, steps=args.steps, suggestion=args.suggestion)
        finding = finder.run()
    except (DesignError, ConfigError, DataError) as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(finding.to_dict()))
        return 0
    if finding.suggested_lr is None:
        print("no suggestion: the loss did not fall over the rates tried (try more --steps or another range)")
        return 1
    print(f"suggested learning rate: {finding.suggested_lr:.3g} ({args.suggestion}; steep {finding.steep_lr:.3g}, "
          f"valley {finding.valley_lr:.3g}) for {config.optimizer}, batch size {config.batch_size}")
    print(f"{len(finding.lrs)} steps from {finding.lrs[0]:.3g} to {finding.lrs[-1]:.3g}"
          + (", stopped when the loss blew up" if finding.diverged else ""))
    return 0
