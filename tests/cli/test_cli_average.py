"""`l2r average`: writes the mean explainer, and bad input ends in one line naming the file."""
from __future__ import annotations

import os

from l2r_core.explainer import explainer_fingerprint, load_explainer
from l2r_training.cli import main

from ..core.test_explainer_averaging import three  # noqa: F401  (fixture)
from ..core.test_explainer_io import resnet_state  # noqa: F401  (fixture)


def test_cli_writes_the_average_and_reports_bad_input_in_one_line(three, tmp_path, capsys) -> None:  # noqa: F811
    model, explainers = three
    assert main(["average", str(tmp_path / "step_0"), str(tmp_path / "step_2"), "--out", str(tmp_path / "cli")]) == 0
    assert "averaged 2 explainers" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path / "cli")) == ["explainer.json", "explainer.safetensors"]  # no temp files left
    fp = explainer_fingerprint(load_explainer(tmp_path / "cli", model))
    assert fp not in {explainer_fingerprint(ex) for ex in explainers}

    assert main(["average", str(tmp_path / "step_0"), "--out", str(tmp_path / "one")]) == 2
    assert "at least two explainers" in capsys.readouterr().err
    assert main(["average", str(tmp_path / "step_0"), str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "missing: explainer not found" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()
