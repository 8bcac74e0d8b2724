"""Regenerate the README's generated sections from their sources (never edit them by hand).

    .venv/bin/python tools/update_readme.py
Sections sit between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`:
- targets: the target registry (edgekit/build/targets.py);
- passes: the pass registry (edgekit/build/passes/);
- results: one row per benchmarks/results/NAME.json, its headline from benchmarks/NAME.py's summary();
- architectures: benchmarks/results/architectures.json as a table;
- vs_anchors: the goals of benchmarks/results/vs_anchors.json (edgekit against the anchors).
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

from edgekit.build.passes import PASSES
from edgekit.build.targets import all_targets

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RESULTS = ROOT / "benchmarks" / "results"
SECTION = re.compile(r"(<!-- generated:(?P<name>[\w:.-]+) -->\n).*?(<!-- /generated:(?P=name) -->)", re.S)


def targets_table() -> str:
    rows = ["| target | runtime | precision | ISA | passes | why |", "|---|---|---|---|---|---|"]
    for t in all_targets():
        rows.append(f"| `{t.name}` | {t.runtime} | {t.precision} | {t.isa} | {' → '.join(t.passes)} | {t.reason} |")
    return "\n".join(rows) + "\n"


def passes_table() -> str:
    users = {name: [t.name for t in all_targets() if name in t.passes] for name in PASSES}
    rows = ["| pass | takes → leaves | recipe section | what it does | targets |", "|---|---|---|---|---|"]
    for name, step in PASSES.items():
        formats = f"{'/'.join(step.accepts)} → {step.produces or 'same'}"
        section = f"`[{step.section}]`" if step.section else ""
        rows.append(f"| `{name}` | {formats} | {section} | {step.description} | {len(users[name])} |")
    return "\n".join(rows) + "\n"


def _script(name: str):
    path = ROOT / "benchmarks" / f"{name}.py"
    sys.path.insert(0, str(path.parent))  # the scripts import their shared helpers (common.py)
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def results_table() -> str:
    rows = ["| result | headline | weights | measured on |", "|---|---|---|---|"]
    for path in sorted(RESULTS.glob("*.json")):
        result = json.loads(path.read_text())
        script = _script(path.stem)
        machine = result.get("machine") or {}
        commit = machine.get("git_commit") or result.get("git_commit") or "?"
        weights = _weights(result)
        rows.append(f"| [{script.TITLE}](benchmarks/results/{path.stem}.md) | {script.summary(result)} | {weights} "
                    f"| {machine.get('cpu', '?')}, commit {commit} |")
    return "\n".join(rows) + "\n"


def _weights(result: dict) -> str:
    """"random", "real" or both, from every random_weights flag anywhere in a result."""
    flags = set()

    def walk(value) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("random_weights"), bool):
                flags.add(value["random_weights"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(result)
    model = json.dumps([result.get("model"), result.get("weights")]).lower()
    if not flags:  # older results name the weights in words
        flags.update(flag for flag, word in ((True, "random"), (False, "real weights")) if word in model)
    return " and ".join(name for flag, name in ((True, "random"), (False, "real")) if flag in flags) or "?"


def architectures_table() -> str:
    """The architecture × target table of benchmarks/architectures.py, without its heading."""
    path = RESULTS / "architectures.json"
    if not path.is_file():
        return "Run `.venv/bin/python benchmarks/architectures.py` to measure this table.\n"
    body = _script("architectures").render(json.loads(path.read_text())).split("\n", 2)[2]
    return body


def vs_anchors_table() -> str:
    """The goals of benchmarks/vs_anchors.py against the anchors, with the machine they were measured on."""
    path = RESULTS / "vs_anchors.json"
    if not path.is_file():
        return "Run `.venv/bin/python benchmarks/vs_anchors.py` to measure this table.\n"
    result = json.loads(path.read_text())
    report = _script("vs_anchors_report")
    return (f"{report.machine_line(result)} Details: [benchmarks/results/vs_anchors.md]"
            f"(benchmarks/results/vs_anchors.md).\n\n{report.goals_table(result)}")


SECTIONS = {"targets": targets_table, "passes": passes_table, "results": results_table,
            "architectures": architectures_table, "vs_anchors": vs_anchors_table}


def render(name: str) -> str:
    if name not in SECTIONS:
        raise SystemExit(f"unknown generated section {name!r}; known: {', '.join(SECTIONS)}")
    return SECTIONS[name]()


if __name__ == "__main__":
    text = README.read_text()
    README.write_text(SECTION.sub(lambda m: m.group(1) + render(m.group("name")) + m.group(3), text))
    print("README.md sections regenerated")
