"""Issue 17's review: ``train --data`` refuses flags that say otherwise (bug 13) and GANs (bug 16),
before anything is loaded or written."""

from __future__ import annotations

import pytest

from playground.cli import main


@pytest.mark.parametrize("extra, words", [
    (["--dataset", "mnist"], "conflicts with --dataset mnist"),
    (["--data-folder", "elsewhere"], "name different folders"),
])
def test_data_with_conflicting_flags_exits_2(tmp_path, capsys, extra, words):
    (tmp_path / "ds").mkdir()
    code = main(["train", "--preset", "fast-cnn", "--data", str(tmp_path / "ds"), *extra,
                 "--out", str(tmp_path / "run")])
    assert code == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_gan_refuses_a_data_folder(tmp_path, capsys):
    (tmp_path / "ds").mkdir()
    code = main(["train", "--preset", "gan-mlp", "--data", str(tmp_path / "ds"), "--out", str(tmp_path / "run")])
    assert code == 2
    assert "a GAN trains on MNIST only" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def small_folder(root, junk_test: bool):
    """train/ and test/ with two classes (bars and squares) of 6 tiny images; test/ all junk if asked."""
    import numpy as np
    from PIL import Image

    for part in ("train", "test"):
        for name in ("bar", "box"):
            (root / part / name).mkdir(parents=True)
            for i in range(6):
                a = np.zeros((20, 20), np.uint8)
                if name == "bar":
                    a[3:17, 8 + i % 3:11 + i % 3] = 255
                else:
                    a[4:16, 4 + i % 3] = a[4:16, 14 - i % 3] = a[4, 4:16] = a[15, 4:16] = 255
                if part == "test" and junk_test:
                    (root / part / name / f"{i}.png").write_bytes(b"not a png")
                else:
                    Image.fromarray(a).save(root / part / name / f"{i}.png")
    return root


def test_an_empty_test_set_has_no_accuracy(tmp_path, capsys):
    import json

    data, run = small_folder(tmp_path / "ds", junk_test=True), tmp_path / "run"
    code = main(["train", "--preset", "fast-cnn", "--data", str(data), "--epochs", "1", "--out", str(run)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "no test accuracy: the data set has no test images" in out and "0.00%" not in out
    summary = json.loads((run / "run.json").read_text())
    assert summary["test_accuracy"] is None and not (run / "evaluation.json").exists()
    assert summary["skipped_count"] == 12 and len(summary["skipped_files"]) == 12  # bug 8: all listed
    assert "run.json lists them all" in err
    assert main(["evaluate", str(run), "--json"]) == 1
    out, err = capsys.readouterr()
    result = json.loads(out, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    assert result["accuracy"] is None and result["count"] == 0
    assert "no test images" in err
