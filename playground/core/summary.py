"""A design's summary as text (a table for terminals and the window) and as plain data (JSON).

The text goes to terminals, so the design's own text (name, description) passes through
:func:`~playground.core.text.printable`: no escape sequence from a file reaches the terminal.
"""

from __future__ import annotations

from playground.core.layers import format_shape
from playground.core import shapes
from playground.core.config import TrainConfig
from playground.core.shapes import ShapeReport, memory_line, training_bytes
from playground.core.spec import NetworkSpec
from playground.core.text import counted, format_bytes, printable

DEFAULT_BATCH_SIZE = TrainConfig.batch_size  # for a design given without a training config


def report_dict(spec: NetworkSpec, report: ShapeReport, batch_size: int = DEFAULT_BATCH_SIZE) -> dict:
    return {
        "name": spec.name,
        "valid": report.valid,
        "input_shape": list(spec.input_shape),
        "output_shape": list(report.output_shape) if report.output_shape else None,
        "total_parameters": report.total_parameters,
        "total_macs": report.total_macs,
        "memory": {
            "parameter_bytes": report.parameter_bytes,
            "activation_bytes_per_image": report.activation_bytes,
            "batch_size": batch_size,
            "training_bytes": training_bytes(report, batch_size),
            "machine_bytes": shapes.machine_memory_bytes(),
        },
        "layers": [
            {"index": row.index + 1, "type": row.type, "description": spec.layers[row.index].describe(),
             "params": dict(spec.layers[row.index].params),
             "output_shape": list(row.out_shape) if row.out_shape else None,
             "parameters": row.parameters, "macs": row.macs}
            for row in report.rows
        ],
        "problems": [
            {"layer": p.layer + 1 if p.layer >= 0 else None, "message": p.message,
             "fix": p.fix.label if p.fix else None}
            for p in report.problems
        ],
    }


def format_report(spec: NetworkSpec, report: ShapeReport, batch_size: int = DEFAULT_BATCH_SIZE) -> str:
    header = ("#", "layer", "output", "parameters", "multiply-adds")
    rows = [("", "input", format_shape(spec.input_shape), "", "")]
    for row in report.rows:
        rows.append((str(row.index + 1), spec.layers[row.index].describe(),
                     format_shape(row.out_shape), f"{row.parameters:,}", f"{row.macs:,}"))
    rows.append(("", "total", format_shape(report.output_shape),
                 f"{report.total_parameters:,}", f"{report.total_macs:,}"))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    align = ("rjust", "ljust", "ljust", "rjust", "rjust")

    def line(r):
        return "  ".join(getattr(cell, a)(w) for cell, a, w in zip(r, align, widths)).rstrip()

    out = [printable(spec.name) + (f": {printable(spec.description)}" if spec.description else ""), "",
           line(header), line(tuple("-" * w for w in widths))]
    out += [line(r) for r in rows[:-1]]
    out += [line(tuple("-" * w for w in widths)), line(rows[-1])]
    out += ["", f"memory: {memory_line(report, batch_size)} (this machine has "
                f"{format_bytes(shapes.machine_memory_bytes())})"]
    if report.problems:
        out += ["", f"{counted(len(report.problems), 'problem')}:"]
        for p in report.problems:
            out.append(f"  - {p.message}" + (f"\n    fix: {p.fix.label}" if p.fix else ""))
    else:
        out += ["", "No problems: the design is ready to train."]
    return "\n".join(out)
