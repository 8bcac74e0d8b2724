"""The CLI in-process (CliRunner): targets, --version, the resolved recipe, the export summary."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from edgekit import __version__
from edgekit.build.targets import all_targets


def test_version(runner, cli):
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"edgekit {__version__}"


def test_targets_lists_registry_with_descriptions(runner, cli):
    result = runner.invoke(cli, ["targets"])
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert len(lines) == len(all_targets())
    for target, line in zip(all_targets(), lines):
        assert line.startswith(target.name) and target.description in line


def test_print_recipe_resolves_defaults_and_overrides(runner, cli, tiny_classifier):
    result = runner.invoke(cli, ["export", "--model", str(tiny_classifier), "--print-recipe", "--atol", "0.001"])
    assert result.exit_code == 0, result.output
    assert 'target = "onnx-fp32"' in result.output
    assert 'passes = ["export", "validate"]' in result.output
    assert "atol = 0.001" in result.output and "opset = 17" in result.output


def test_unknown_option_is_one_line(runner, cli):
    result = runner.invoke(cli, ["export", "--bogus"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgekit: error: No such option") and "--bogus" in lines[0]


def test_export_prints_figures_and_paths(runner, cli, tiny_checkpoints, tmp_path):
    out = tmp_path / "fe"
    result = runner.invoke(cli, ["export", "--model", str(tiny_checkpoints["feature-extraction"]), "--out", str(out),
                                 "--samples", "12", "-q"])
    assert result.exit_code == 0, result.output
    assert f"artefact: {out / 'model.onnx'}" in result.output
    assert f"record:   {out / 'edgekit.json'}" in result.output
    assert "last_hidden_state: max abs diff" in result.output
    assert "nearest-neighbour agreement 100.00%" in result.output


def test_interrupted_export_leaves_nothing(tmp_path, tiny_classifier):
    """Ctrl-C or kill mid-build: neither the artefact nor the temp dir remains."""
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "edgekit.cli", "export", "--model", str(tiny_classifier),
                             "--out", str(out), "--samples", "64"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(".edgekit-tmp-") for p in tmp_path.iterdir()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("export finished or stalled before its temp dir appeared: " + proc.stdout.read())
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert "interrupted" in output
    assert sorted(p.name for p in tmp_path.iterdir()) == []
