"""Outputs that are never lost: the final rename re-checks what is at --out under a lock, concurrent runs fail
cleanly, stale temp dirs of killed runs are cleaned by the next run, and every output is checked before any
work starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgekit.build.atomic import TEMP_PREFIX, _host_tag, atomic_output_dir, clean_stale_temps
from edgekit.build.record import RECORD_NAME
from edgekit.errors import OutputDirError
from tests.conftest import leftovers


def _edgekit_output(directory: Path, files=("model.onnx",)) -> None:
    """A directory as edgekit leaves it: its files, listed in an edgekit.json."""
    directory.mkdir(parents=True)
    for name in files:
        (directory / name).write_text("weights")
    (directory / RECORD_NAME).write_text(json.dumps({"files": {name: {} for name in files}}))


def _build(out: Path, *, force: bool = False, during=None, announce=None) -> None:
    with atomic_output_dir(out, force=force, announce=announce) as work:
        (work / "model.onnx").write_text("new weights")
        (work / RECORD_NAME).write_text(json.dumps({"files": {"model.onnx": {}}}))
        if during:
            during()


# What appears at --out while a build runs, and what must happen at its final rename.
APPEARING = [
    ("a user's folder", False, lambda out: (out.mkdir(), (out / "mine.txt").write_text("user data")),
     "appeared while edgekit was building"),
    ("a user's folder, force", True, lambda out: (out.mkdir(), (out / "mine.txt").write_text("user data")),
     "edgekit did not write"),
    ("another edgekit output", False, lambda out: _edgekit_output(out), "appeared while edgekit was building"),
    ("a user's file", True, lambda out: out.write_text("user data"), "edgekit did not write"),
]


@pytest.mark.parametrize("force, appear, fragment", [case[1:] for case in APPEARING],
                         ids=[case[0] for case in APPEARING])
def test_what_appears_at_out_during_a_build_is_never_replaced(tmp_path, force, appear, fragment):
    out = tmp_path / "out"
    before = None

    def during():
        nonlocal before
        appear(out)
        before = {p.name: p.read_text() for p in out.iterdir()} if out.is_dir() else out.read_text()

    with pytest.raises(OutputDirError, match=fragment):
        _build(out, force=force, during=during)
    after = {p.name: p.read_text() for p in out.iterdir()} if out.is_dir() else out.read_text()
    assert after == before
    assert leftovers(tmp_path) == ["out"]


def test_an_empty_folder_made_during_the_build_is_taken_over(tmp_path):
    out = tmp_path / "out"
    _build(out, during=out.mkdir)
    assert (out / "model.onnx").read_text() == "new weights" and leftovers(tmp_path) == ["out"]


def test_force_replaces_an_edgekit_output_but_not_an_empty_subfolder_in_it(tmp_path):
    out = tmp_path / "out"
    _edgekit_output(out)
    _build(out, force=True)
    assert (out / "model.onnx").read_text() == "new weights" and leftovers(tmp_path) == ["out"]
    (out / "empty-subfolder").mkdir()
    with pytest.raises(OutputDirError, match="empty-subfolder/"):
        _build(out, force=True)
    assert (out / "empty-subfolder").is_dir()


def test_two_runs_to_one_out_fail_cleanly_for_all_but_one(tmp_path):
    out = tmp_path / "out"
    second = []

    def start_another():
        with pytest.raises(OutputDirError, match="another edgekit run") as caught:
            _build(out)
        second.append(str(caught.value))

    _build(out, during=start_another)
    assert second and (out / "model.onnx").read_text() == "new weights"
    assert leftovers(tmp_path) == ["out"]  # the lock file is gone too


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path):
    out = tmp_path / "out"
    dead = _dead_pid()
    import socket

    (tmp_path / "out.edgekit-lock").write_text(json.dumps({"pid": dead, "host": socket.gethostname()}))
    _build(out)
    assert leftovers(tmp_path) == ["out"]


def test_an_interrupted_build_leaves_nothing(tmp_path):
    out = tmp_path / "sub" / "out"

    def interrupt():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _build(out, during=interrupt)
    assert leftovers(tmp_path) == []  # nor the parent it created


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("owner, removed", [("dead", True), ("alive", False), ("other host", False),
                                            ("no pid in name", False)])
def test_stale_temp_dirs_of_killed_runs_are_removed_and_announced(tmp_path, owner, removed):
    pid = {"dead": _dead_pid(), "alive": os.getpid(), "other host": _dead_pid(), "no pid in name": None}[owner]
    host = "00000000" if owner == "other host" else _host_tag()
    name = f"{TEMP_PREFIX}{pid}-{host}-out-abc" if pid else f"{TEMP_PREFIX}out-abc"
    stale = tmp_path / name
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "model.onnx").write_bytes(b"\0" * 1000)
    heard = []
    _build(tmp_path / "out", announce=heard.append)
    assert stale.exists() is not removed
    assert bool(heard) is removed
    if removed:
        assert "killed" in heard[0] and stale.name in heard[0]


def test_clean_stale_temps_never_touches_other_names(tmp_path):
    for name in ("out", ".edgekit-tmp", "edgekit-tmp-1-x", ".edgekit-previous-1"):
        (tmp_path / name).mkdir()
    assert clean_stale_temps(tmp_path) == [] and len(leftovers(tmp_path)) == 4


@pytest.mark.parametrize("where", ["cwd", "parent of cwd"])
def test_out_that_is_or_holds_the_current_directory_is_refused_up_front(runner, cli, tmp_path, monkeypatch, where):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    out = "." if where == "cwd" else ".."
    result = runner.invoke(cli, ["export", "--model", "random:distilroberta-base", "--out", out, "--force"])
    assert result.exit_code == 2 and "is the current directory or holds it" in result.output, result.output
    assert leftovers(tmp_path) == ["work"] and leftovers(work) == []


def _run_until_temp_dir(args, parent: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "edgekit.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(TEMP_PREFIX) for p in parent.iterdir()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("the export ended or stalled before its temp dir appeared: " + proc.stdout.read())
        time.sleep(0.01)
    time.sleep(0.3)  # into the build, where files are being written
    return proc


def test_repeated_interrupts_still_clean_up(tmp_path, tiny_classifier):
    proc = _run_until_temp_dir(["export", "--model", str(tiny_classifier), "--out", str(tmp_path / "out"),
                                "--samples", "64"], tmp_path)
    for _ in range(3):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in output, output
    assert leftovers(tmp_path) == []


def test_a_killed_build_is_cleaned_by_the_next_run(runner, cli, tmp_path, tiny_classifier):
    proc = _run_until_temp_dir(["export", "--model", str(tiny_classifier), "--out", str(tmp_path / "out"),
                                "--samples", "64"], tmp_path)
    proc.kill()
    proc.communicate(timeout=60)
    stale = [p.name for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]
    assert stale, "SIGKILL leaves the temp dir (nothing can run in the process)"
    result = runner.invoke(cli, ["export", "--model", str(tiny_classifier), "--out", str(tmp_path / "out"),
                                 "--samples", "8"])
    assert result.exit_code == 0, result.output
    assert f"removed {stale[0]}" in result.output and "killed" in result.output
    assert leftovers(tmp_path) == ["out"]


def test_package_never_replaces_its_own_artefact(runner, cli, tiny_build, tmp_path):
    artefact = tiny_build("onnx-fp32").out_dir
    before = sorted(p.name for p in artefact.iterdir())
    for out in (artefact, artefact / "bundle"):
        result = runner.invoke(cli, ["package", str(artefact), "--out", str(out), "--force", "-q"])
        assert result.exit_code == 2 and "would replace or sit inside the artefact" in result.output, result.output
    assert sorted(p.name for p in artefact.iterdir()) == before


def test_export_bundle_checks_the_bundle_dir_before_building(runner, cli, tmp_path, monkeypatch):
    import edgekit.build.sources as sources

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded before the outputs were checked")

    monkeypatch.setattr(sources, "load_model", never)
    (tmp_path / "out-bundle").mkdir()
    (tmp_path / "out-bundle" / "mine.txt").write_text("user data")
    result = runner.invoke(cli, ["export", "--model", "random:distilroberta-base", "--out", str(tmp_path / "out"),
                                 "--bundle"])
    assert result.exit_code == 2 and "out-bundle" in result.output and "not empty" in result.output, result.output
    assert leftovers(tmp_path) == ["out-bundle"]


def test_a_full_disk_is_one_line_and_leaves_nothing(runner, cli, tiny_build, tmp_path, monkeypatch):
    import errno

    import edgekit.build.bundle.package as packaging

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "b" / "model.onnx"))

    monkeypatch.setattr(packaging.shutil, "copyfile", full)
    result = runner.invoke(cli, ["package", str(tiny_build("onnx-fp32").out_dir), "--out", str(tmp_path / "b"),
                                 "--no-graph-tokenizer", "-q"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "No space left on device" in lines[0] and "Traceback" not in result.output
    assert leftovers(tmp_path) == []


def test_package_checks_its_zip_before_writing_the_bundle(runner, cli, tiny_build, tmp_path):
    (tmp_path / "b.zip").write_text("the user's own zip")
    for extra in ([], ["--force"]):
        result = runner.invoke(cli, ["package", str(tiny_build("onnx-fp32").out_dir), "--out", str(tmp_path / "b"),
                                     "--zip", "--no-graph-tokenizer", "-q", *extra])
        assert result.exit_code == 2 and "b.zip" in result.output, result.output
    assert leftovers(tmp_path) == ["b.zip"] and (tmp_path / "b.zip").read_text() == "the user's own zip"


def test_an_interrupt_a_library_wraps_is_still_an_interrupt(monkeypatch, capsys):
    """onnxruntime's import turns a KeyboardInterrupt that lands inside it into ImportError; the CLI must still
    exit 130 with its one line, not a traceback (seen once in 12 runs of the three-SIGINT test)."""
    import click

    import edgekit.cli as cli_module

    def wrapped_interrupt():
        cli_module._interrupt_once(signal.SIGINT, None)  # the signal handler's own call, as the signal would

    def import_that_wraps():
        try:
            wrapped_interrupt()
        except KeyboardInterrupt as exc:
            raise ImportError("initialization failed") from exc

    command = click.Command("wrapped-interrupt", callback=import_that_wraps)
    cli_module.cli.add_command(command)
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(SystemExit) as exit_info:
            cli_module.cli.main(["wrapped-interrupt"])
    finally:
        cli_module.cli.commands.pop("wrapped-interrupt")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    assert exit_info.value.code == 130
    err = capsys.readouterr().err
    assert err.strip() == "edgekit: interrupted; no output was written", err
