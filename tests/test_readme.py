"""The README's generated sections equal what tools/update_readme.py makes from the registries and results."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tool():
    spec = importlib.util.spec_from_file_location("update_readme", ROOT / "tools" / "update_readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_sections_are_current():
    tool = _tool()
    readme = (ROOT / "README.md").read_text()
    sections = {m.group("name"): m.group(0) for m in tool.SECTION.finditer(readme)}
    assert set(sections) == set(tool.SECTIONS), "every generated section appears once"
    for name, block in sections.items():
        expected = f"<!-- generated:{name} -->\n{tool.render(name)}<!-- /generated:{name} -->"
        assert block == expected, f"README section {name!r} is stale: run tools/update_readme.py"


def test_readme_stays_a_read():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 400
    assert not [line for line in lines if line.startswith("#") and "issue" in line.lower()], "no issue numbers in headings"
