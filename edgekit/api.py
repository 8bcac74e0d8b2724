"""The library API: one function per command, keyword-only arguments, typed results.

    import edgekit
    result = edgekit.export(model="random:distilroberta-base", target="openvino-int8")
    report = edgekit.bench(artefacts=[result.out_dir], seq_lens=[128], out="bench.json")
    print(edgekit.report(report, format="md").text)
    bundle = edgekit.package(artefact=result.out_dir)
    edgekit.verify(bundle.bundle_dir)

The CLI only parses options and calls these. Nothing here prints; progress and warnings go to stderr unless
quiet. Every expected failure raises a subclass of edgekit.EdgekitError.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgekit.build import tasks
from edgekit.build.builder import ExportPlan, ExportResult
from edgekit.build.bundle.package import PackageResult
from edgekit.build.progress import Progress
from edgekit.build.sources import DEFAULT_MODEL
from edgekit.build.targets import Target, all_targets
from edgekit.build.timing import Timing
from edgekit.measure.result import Report

__all__ = ["ExportPlan", "ExportResult", "Report", "Comparison", "RenderedView", "PackageResult", "VerifyResult",
           "Timing", "targets", "task_names", "plan_export", "export", "export_or_reuse", "bench", "claim", "compare", "report",
           "package", "verify"]


def targets() -> tuple[Target, ...]:
    """Every target edgekit can build, from the registry (edgekit/build/targets.py)."""
    return all_targets()


def task_names() -> tuple[str, ...]:
    """The tasks (model heads) edgekit exports, from the registry (edgekit/build/tasks.py)."""
    return tasks.task_names()


# -- export ---------------------------------------------------------------------------------------------------
def plan_export(*, model: str = DEFAULT_MODEL, target: str | None = None, task: str | None = None,
                recipe: Path | str | None = None, opset: int | None = None, atol: float | None = None,
                max_length: int | None = None, samples: int | None = None, max_drop: float | None = None,
                calibration_data: Path | str | None = None, new_head: bool = False) -> ExportPlan:
    """Resolve the model source and the recipe (target defaults < recipe file < these options) and check them
    all; loads no weights. plan.recipe.to_toml() is the resolved recipe. A task whose head the checkpoint
    lacks is an error unless new_head."""
    from edgekit.build.builder import plan_export as plan

    return plan(model=model, target=target, task=task, recipe=Path(recipe) if recipe else None,
                new_head=new_head, overrides={
        "export": {"opset": opset},
        "validate": {"atol": atol, "max_length": max_length, "samples": samples, "max_drop": max_drop},
        "quantize": {"calibration_data": str(calibration_data) if calibration_data else None},
    })


def export(*, model: str = DEFAULT_MODEL, target: str | None = None, task: str | None = None,
           out: Path | str | None = None, recipe: Path | str | None = None, opset: int | None = None,
           atol: float | None = None, max_length: int | None = None, samples: int | None = None,
           max_drop: float | None = None, calibration_data: Path | str | None = None, new_head: bool = False,
           bundle: bool = False, force: bool = False, quiet: bool = False, verbose: bool = False) -> ExportResult:
    """Build one validated artefact: run the target's recipe and write the directory and its edgekit.json
    atomically (default ./edgekit-out/<model>-<target>/). `force` replaces an earlier edgekit artefact there.
    new_head: export a freshly initialised head for a task the checkpoint was not trained for (recorded).
    bundle: also package it (OUT-bundle/, result.bundle); both outputs are checked before the build starts."""
    import dataclasses

    from edgekit.build.builder import build_artefact
    from edgekit.build.bundle.package import check_bundle_outputs, default_bundle_dir
    from edgekit.build.bundle.package import package as build_bundle

    plan = plan_export(model=model, target=target, task=task, recipe=recipe, opset=opset, atol=atol,
                       max_length=max_length, samples=samples, max_drop=max_drop, calibration_data=calibration_data,
                       new_head=new_head)
    out_dir = Path(out) if out else plan.default_out_dir()
    if bundle:
        check_bundle_outputs(out_dir, default_bundle_dir(out_dir), make_zip=False, force=force)
    result = build_artefact(plan, out=out_dir, force=force, progress=Progress(quiet=quiet, verbose=verbose))
    if bundle:
        result = dataclasses.replace(result, bundle=build_bundle(artefact_dir=result.out_dir, force=force,
                                                                 quiet=quiet))
    return result


def export_or_reuse(*, model: str, target: str, out: Path | str, task: str | None = None,
                    recipe: Path | str | None = None, quiet: bool = False) -> Path:
    """The artefact for (model, target) at `out`, reused when this edgekit would build it the same way (the
    same recipe: the target's default, or `recipe` resolved over it), else built there."""
    from edgekit.build.builder import export_or_reuse as reuse

    return reuse(model=model, target=target, out=out, task=task, recipe=recipe, progress=Progress(quiet=quiet))


# -- measure --------------------------------------------------------------------------------------------------
def bench(*, artefacts: Sequence[Path | str], batch_sizes: Sequence[int] = (1,),
          seq_lens: Sequence[int] | None = (128,), lengths_from: Path | str | None = None,
          threads: Sequence[int] = (2,), timing: Timing = Timing(), reference: bool = False,
          eval_data: str | None = None, isolate: bool = True, out: Path | str | None = None,
          oversubscribe: bool = False, force: bool = False, quiet: bool = False) -> Report:
    """Latency (interleaved, raw samples kept), throughput, load time, peak memory and accuracy of artefact
    directories, in one report; saved to `out` when given (checked before measuring; `force` replaces an
    earlier edgekit report there). `lengths_from` replaces seq_lens by the median, p90 and p99 token lengths
    of a text file. Thread counts above this machine's usable cores are refused unless oversubscribe."""
    from edgekit.measure.result import check_report_out
    from edgekit.measure.runner import bench as run_bench

    if out is not None:
        check_report_out(out, force=force)

    document = run_bench(artefacts=list(artefacts), batch_sizes=list(batch_sizes),
                         seq_lens=list(seq_lens) if seq_lens and not lengths_from else None,
                         lengths_from=lengths_from, threads=list(threads), timing=timing, reference=reference,
                         eval_data=eval_data, isolate=isolate, oversubscribe=oversubscribe, quiet=quiet)
    result = Report(document)
    return result.save(out, force=force) if out is not None else result


def claim(*, fast_model: str = "random:distilroberta-base", slow_model: str = "random:roberta-base",
          runtimes: Sequence[str] | None = None, batch_sizes: Sequence[int] | None = None,
          seq_lens: Sequence[int] | None = None, threads: int = 2, timing: Timing = Timing(runs=10),
          work_dir: Path | str = Path("edgekit-out") / "claim", threshold: float = 2.0,
          out: Path | str | None = None, force: bool = False, quiet: bool = False) -> Report:
    """Is `fast_model` at least `threshold` times as fast as `slow_model` in the same runtime? Both are timed in
    the same rounds; ratios come with bootstrap 95% CIs and a verdict. `out` is checked before any build;
    `force` replaces an earlier edgekit report there."""
    from edgekit.measure import claim as claims
    from edgekit.measure.result import check_report_out

    if out is not None:
        check_report_out(out, force=force)

    document = claims.claim(fast_model=fast_model, slow_model=slow_model,
                            runtimes=list(runtimes or claims.DEFAULT_RUNTIMES),
                            batch_sizes=list(batch_sizes or claims.DEFAULT_BATCH_SIZES),
                            seq_lens=list(seq_lens or claims.DEFAULT_SEQ_LENS), threads=threads, timing=timing,
                            work_dir=work_dir, threshold=threshold, quiet=quiet)
    result = Report(document)
    return result.save(out, force=force) if out is not None else result


@dataclass(frozen=True)
class Comparison:
    """Reports compared with a baseline: the machine-readable document and the gates that failed."""
    document: dict
    failures: tuple[dict, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def compare(*, baseline: Report | Path | str, others: Sequence[Report | Path | str], noise: float | str = 0.02,
            gates: Sequence[str] = ()) -> Comparison:
    """Latency ratios B/A per configuration with 95% CIs, an overall geometric mean, accuracy deltas, and gates
    such as "p50:5%" (fail when more than 5% slower beyond noise) or "accuracy:0.5" (points lost)."""
    from edgekit.errors import InputError
    from edgekit.measure.compare import (
        check_gates,
        compare_reports,
        comparison_document,
        parse_gate,
        parse_noise,
    )

    parsed_gates = [parse_gate(text) for text in gates]
    noise_fraction = parse_noise(str(noise))
    if not others:
        raise InputError("compare needs a baseline report and at least one more")
    base = _report(baseline)
    comparisons = []
    for other in others:
        loaded = _report(other)
        comparisons.append(compare_reports(base.document, loaded.document, noise=noise_fraction,
                                           baseline_name=_name(base), other_name=_name(loaded)))
    failures = [failure for c in comparisons for failure in check_gates(c, parsed_gates)]
    return Comparison(comparison_document(comparisons, gates=parsed_gates, failures=failures), tuple(failures))


def _report(value: Report | Path | str) -> Report:
    return value if isinstance(value, Report) else Report.load(value)


def _name(report: Report) -> str:
    return str(report.path) if report.path is not None else report.document.get("created", "report")


@dataclass(frozen=True)
class RenderedView:
    """A view of a report: its text (table, md, json), and the files written (png, html, or any format to out)."""
    text: str | None
    paths: tuple[Path, ...]


def report(source: Report | Path | str, *, format: str = "table", out: Path | str | None = None,
           force: bool = False) -> RenderedView:
    """Render a report as a terminal table, Markdown or JSON (text), or PNG plots or one HTML page (files: out,
    or beside the report). Any format goes to `out` when given; an existing file there is replaced only with
    `force`, and only when edgekit wrote it (a report or a view)."""
    from edgekit.views.formats import render_text, view_path, write_view

    source_path = source.path if isinstance(source, Report) else Path(source)
    target = view_path(report_path=source_path, fmt=format, out=Path(out) if out else None, force=force)
    loaded = _report(source)
    if target is None:
        return RenderedView(render_text(loaded.document, fmt=format), ())
    return RenderedView(None, tuple(write_view(loaded.document, fmt=format, out=target)))


# -- bundles --------------------------------------------------------------------------------------------------
def package(*, artefact: Path | str, out: Path | str | None = None, zip: bool = False,
            graph_tokenizer: bool = True, signing_key: bytes | str | Path | None = None, force: bool = False,
            quiet: bool = False) -> PackageResult:
    """A self-contained, sealed bundle for apps from a built artefact (default ARTEFACT-bundle/), with the
    tokenizer compiled into the runtime's graph where the build side can and it checks out token for token.
    signing_key: an Ed25519 private key (PEM bytes or a path) that signs the manifest (manifest.sig).
    result.manifest_sha256 is what an app pins."""
    from edgekit.build.bundle.package import package as build_bundle

    return build_bundle(artefact_dir=artefact, out=out, make_zip=zip, graph_tokenizer=graph_tokenizer,
                        signing_key=signing_key, force=force, quiet=quiet)


@dataclass(frozen=True)
class VerifyResult:
    bundle_dir: Path
    files_checked: int
    load_s: float
    answer_ms: float
    manifest: dict
    manifest_sha256: str
    signed: bool  # the bundle carries manifest.sig
    signature_checked: bool  # and it verified against the public key given


SMOKE_TEXT = "edgekit checks that this bundle loads and answers."


def verify(bundle: Path | str, *, threads: int | None = None, manifest_sha256: str | None = None,
           public_key: bytes | str | Path | None = None) -> VerifyResult:
    """Check a bundle (directory or .zip) the way a device would: its seal, the pinned manifest sha256 and the
    signature when given, every checksum, then load it with the light runtime and answer one text. A zip is
    extracted safely into a temporary directory, removed afterwards."""
    from edgekit import runtime
    from edgekit.runtime.archive import opened_bundle
    from edgekit.runtime.manifest import manifest_sha256 as manifest_digest
    from edgekit.runtime.manifest import SIGNATURE_NAME, read_manifest, verify_files

    with opened_bundle(Path(bundle)) as directory:
        manifest = read_manifest(directory, expected_sha256=manifest_sha256, public_key=public_key)
        verify_files(directory, manifest)
        start = time.perf_counter()
        model = runtime.load(directory, threads=threads, verify=False)
        loaded = time.perf_counter() - start
        start = time.perf_counter()
        model([SMOKE_TEXT])
        answered = (time.perf_counter() - start) * 1e3
        digest, signed = manifest_digest(directory), (directory / SIGNATURE_NAME).is_file()
    return VerifyResult(Path(bundle), len(manifest["files"]), loaded, answered, manifest, digest, signed,
                        public_key is not None)
