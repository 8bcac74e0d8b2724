"""Regenerate the README's generated sections from their sources (never edit them by hand).

    .venv/bin/python tools/update_readme.py
Sections sit between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`: `targets` comes from the
target registry, `bench:FILE` from benchmarks/results/FILE.
"""

from __future__ import annotations

import re
from pathlib import Path

from edgekit.build.targets import all_targets

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SECTION = re.compile(r"(<!-- generated:(?P<name>[\w:.-]+) -->\n).*?(<!-- /generated:(?P=name) -->)", re.S)


def targets_table() -> str:
    rows = ["| target | runtime | precision | ISA | passes | why |", "|---|---|---|---|---|---|"]
    for t in all_targets():
        rows.append(f"| `{t.name}` | {t.runtime} | {t.precision} | {t.isa} | {' → '.join(t.passes)} | {t.reason} |")
    return "\n".join(rows) + "\n"


EMBED_LEVEL = 4  # an embedded report's top heading becomes ####, under the README's own sections


def demote_headings(markdown: str) -> str:
    levels = [len(m.group(1)) for m in re.finditer(r"^(#+) ", markdown, re.M)]
    if not levels:
        return markdown
    shift = max(0, EMBED_LEVEL - min(levels))
    return re.sub(r"^(#+) ", lambda m: "#" * min(6, len(m.group(1)) + shift) + " ", markdown, flags=re.M)


def render(name: str) -> str:
    if name == "targets":
        return targets_table()
    if name.startswith("bench:"):
        path = ROOT / "benchmarks" / "results" / name.split(":", 1)[1]
        if not path.is_file():
            return f"_not measured yet: run the script that writes {path.name}_\n"
        return demote_headings(path.read_text())
    raise SystemExit(f"unknown generated section {name!r}")


text = README.read_text()
README.write_text(SECTION.sub(lambda m: m.group(1) + render(m.group("name")) + m.group(3), text))
print("README.md sections regenerated")
