"""Build edgekit/data/corpus_en.txt and CORPUS.md from text that ships with Python and edgekit's deps.

Run: python tools/build_corpus.py [--dry-run]

Standard library only. Source packages are located with importlib (never imported, so this
is fast and needs no torch), their string literals are read with `ast`, split into sentences,
filtered for prose, de-duplicated, then sampled per source with a fixed seed. The output is
deterministic for a given Python version and set of package versions (recorded in CORPUS.md).
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import importlib.util
import inspect
import platform
import random
import re
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

SEED = 20240607
MIN_WORDS, MAX_WORDS = 4, 80
LONG_WORDS = 40  # sentences this long give 64-128 token sequences
# (min words, max words, share of each source's quota): a realistic spread with a long tail.
LENGTH_BANDS = ((4, 7, 0.10), (8, 11, 0.18), (12, 19, 0.34), (20, 39, 0.30), (40, 80, 0.08))
REPO = Path(__file__).resolve().parent.parent
OUT_TXT = REPO / "edgekit" / "data" / "corpus_en.txt"
OUT_MD = REPO / "edgekit" / "data" / "CORPUS.md"


@dataclass(frozen=True)
class Source:
    name: str  # label used in CORPUS.md
    module: str  # located with importlib.util.find_spec
    dist: str | None  # distribution name for the version; None = Python itself
    licence: str
    why: str  # one-line licence justification
    quota: int  # sentences taken from this source


SOURCES = (
    Source("Python reference docs (pydoc_data/topics.py)", "pydoc_data.topics", None, "PSF-2.0",
           "Generated from the CPython documentation, shipped in the standard library under the PSF licence.", 1200),
    Source("numpy docstrings", "numpy", "numpy", "BSD-3-Clause",
           "Copyright NumPy Developers, BSD-3; subpackages with their own licence files are skipped.", 650),
    Source("scipy docstrings", "scipy", "scipy", "BSD-3-Clause",
           "Copyright SciPy Developers, BSD-3; vendored subpackages with their own licence files are skipped.", 750),
    Source("scikit-learn docstrings", "sklearn", "scikit-learn", "BSD-3-Clause",
           "Copyright the scikit-learn developers, BSD-3; sklearn/externals (vendored code) is skipped.", 700),
    Source("transformers docstrings", "transformers", "transformers", "Apache-2.0",
           "Copyright The Hugging Face team; Apache-2.0 allows redistributing modified excerpts with notice.", 700),
)
TARGET = sum(s.quota for s in SOURCES)  # 4000

# Directories never read: tests, and vendored code that may carry a different licence.
SKIP_DIRS = {"tests", "testing", "externals", "_vendor", "vendored", "_vendored",
             "array_api_compat", "array_api_extra", "_uarray", "benchmarks"}
SKIP_SECTIONS = {"examples", "example", "see also", "references", "usage", "example usage"}
ABBREVIATIONS = {"e.g.", "i.e.", "etc.", "vs.", "cf.", "al.", "approx.", "resp.", "eq.", "fig.",
                 "no.", "dr.", "mr.", "ms.", "st.", "sec.", "ch.", "vol.", "ref.", "op."}
SPLIT_RE = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][)\"']))\s+(?=[A-Z\"(])")
EMPHASIS_RE = re.compile(r"(\*\*?)(\w[^*]*?)\1")  # *word* / **word** markup -> word
# Markers that never occur in prose: prompts, backticks, URLs, reST roles/directives, braces, operators.
CODE_RE = re.compile(r">>>|`|://|www\.|::|:[a-z]+:|\.\. |[{}\\$#|@]|==|!=|->|=>|\*\*|\.\.\.")
CODE_TOKEN_RE = re.compile(r"[_()\[\]=<>*/%+^~&;]|\w\.\w")  # identifiers, calls, maths, dotted names
PLAIN_WORD_RE = re.compile(r"[\"(]?[A-Za-z][a-z'-]*[\",.;:!?)]*")
TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                            "\u2013": "-", "\u2014": " - ", "\u00a0": " "})
BULLET_RE = re.compile(r"^(?:[*+-]|\d+\.|\(?[a-z0-9]\))\s+")
PARAM_LINE_RE = re.compile(r"^[\w*, ]+ : ")  # numpydoc "name : type" lines
HEADING_RULE_RE = re.compile(r"^[-=~^*]{3,}$")


def locate(module: str) -> list[Path]:
    """Files to read for one source, found without importing the package."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise SystemExit(f"cannot locate {module!r}; install it to rebuild the corpus")
    if not spec.submodule_search_locations:
        return [Path(spec.origin)]
    root = Path(next(iter(spec.submodule_search_locations)))
    # Subpackages shipping their own licence file are vendored third-party code: skip them.
    licensed = {p.parent for p in root.rglob("*") if p.name.upper().startswith(("LICENSE", "COPYING"))} - {root}
    files = []
    for f in sorted(root.rglob("*.py")):
        rel = f.relative_to(root).parts
        if SKIP_DIRS.intersection(rel) or any(d in f.parents for d in licensed):
            continue
        files.append(f)
    return files


def string_literals(path: Path) -> list[str]:
    """Every plain string literal in a file (docstrings, doc templates, messages); f-string pieces excluded."""
    try:
        tree = ast.parse(path.read_text("utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return []
    pieces = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and len(n.value) >= 20
            and id(n) not in pieces]


def paragraphs(text: str) -> list[str]:
    """Prose paragraphs of a docstring-like text: drops examples, code fences, literal blocks, param lines."""
    lines = inspect.cleandoc(text).splitlines() + [""]
    out: list[str] = []
    cur: list[str] = []
    cur_indent = -1
    skip_section = in_fence = False
    literal_indent: int | None = None  # indent of a line ending in '::' (reST literal block follows)

    def flush() -> None:
        if cur:
            out.append(" ".join(cur))
            cur.clear()

    for i, raw in enumerate(lines):
        line = raw.strip()
        indent = len(raw) - len(raw.lstrip())
        if line.startswith("```"):
            in_fence = not in_fence
            flush()
            continue
        if in_fence:
            continue
        if literal_indent is not None:
            if not line or indent > literal_indent:
                continue
            literal_indent = None
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if HEADING_RULE_RE.match(line):
            continue
        heading = line.rstrip(":").lower()
        if HEADING_RULE_RE.match(nxt) or (line.endswith(":") and heading in SKIP_SECTIONS):
            flush()
            skip_section = heading in SKIP_SECTIONS
            continue
        if skip_section and indent == 0 and line and not line.endswith(":"):
            skip_section = False  # Google-style sections end at the next unindented text
        if skip_section or not line or PARAM_LINE_RE.match(line) or line.startswith(">>>"):
            flush()
            continue
        bullet = BULLET_RE.match(line)
        if bullet:  # a list item starts a block; its wrapped lines are indented to the item text
            flush()
            line, indent = line[bullet.end():], indent + bullet.end()
        elif indent != cur_indent:
            flush()  # an indentation change starts a new block (params, grammar, quotes)
        cur_indent = indent
        if line.endswith("::"):
            literal_indent = indent
            line = line[:-1]
        cur.append(line)
    flush()
    return out


def split_sentences(paragraph: str) -> list[str]:
    """Split on sentence-final punctuation, not after common abbreviations or initials."""
    paragraph = EMPHASIS_RE.sub(r"\2", " ".join(paragraph.translate(TYPOGRAPHY).split()))
    parts, start = [], 0
    for m in SPLIT_RE.finditer(paragraph):
        last = paragraph[start:m.start()].rsplit(" ", 1)[-1].lower()
        if last in ABBREVIATIONS or re.fullmatch(r"[a-z]\.|\d+\.", last):
            continue
        parts.append(paragraph[start:m.start()])
        start = m.end()
    parts.append(paragraph[start:])
    return [p.strip() for p in parts]


def is_prose(s: str) -> bool:
    """True for a clean, natural-looking English sentence (inline identifiers allowed sparingly)."""
    words = s.split()
    if not (MIN_WORDS <= len(words) <= MAX_WORDS) or not s[0].isupper() or s[-1] not in ".!?":
        return False
    if s.endswith(("e.g.", "i.e.", "etc.")) or CODE_RE.search(s):
        return False
    if sum(not c.isascii() for c in s) > 2 or s.count("(") != s.count(")") or s.count('"') % 2:
        return False
    code_tokens = sum(bool(CODE_TOKEN_RE.search(w)) for w in words)
    if s.count("(") > 2 or code_tokens > max(1, len(words) // 10):
        return False
    plain = sum(bool(PLAIN_WORD_RE.fullmatch(w)) for w in words)
    return plain / len(words) >= 0.8  # mostly ordinary words, few identifiers or numbers


def norm(s: str) -> str:
    return " ".join(re.findall(r"[a-z]+", s.lower()))


def candidates(src: Source) -> list[str]:
    seen: set[str] = set()
    out = []
    for f in locate(src.module):
        for lit in string_literals(f):
            for para in paragraphs(lit):
                for s in split_sentences(para):
                    if is_prose(s) and s not in seen:
                        seen.add(s)
                        out.append(s)
    return out


class NearDupFilter:
    """Rejects exact duplicates after normalisation, sentences sharing a 5-word opening or ending
    with `max_shared` others, and two-word openings ("Return the") past `max_opening` of the corpus.

    Why: docstrings repeat boilerplate ("If None, the default is used.") with tiny variations;
    the caps keep the corpus from being dominated by one template.
    """

    def __init__(self, max_shared: int = 2, max_opening: float = 0.015, total: int = TARGET) -> None:
        self.keys: set[str] = set()
        self.heads: Counter[str] = Counter()
        self.tails: Counter[str] = Counter()
        self.openings: Counter[str] = Counter()
        self.max_shared = max_shared
        self.max_opening = int(max_opening * total)

    def accept(self, s: str) -> bool:
        words = norm(s).split()
        key, head, tail, opening = " ".join(words), " ".join(words[:5]), " ".join(words[-5:]), " ".join(words[:2])
        if key in self.keys or self.heads[head] >= self.max_shared or self.tails[tail] >= self.max_shared:
            return False
        if self.openings[opening] >= self.max_opening:
            return False
        self.keys.add(key)
        self.heads[head] += 1
        self.tails[tail] += 1
        self.openings[opening] += 1
        return True


def pick(pool: list[str], quota: int, rng: random.Random, dedup: NearDupFilter) -> list[str]:
    """Seeded sample of `quota` sentences, filled per length band so the spread is realistic.

    Why: docstrings are dominated by short "Return the ..." sentences; sampling by band keeps the
    median near 15 words and reserves a share for long sentences (64-128 tokens) for calibration.
    """
    pool = sorted(pool)  # independent of file-walk order
    rng.shuffle(pool)
    chosen: list[str] = []
    taken: set[str] = set()
    bands = [(lo, hi, round(quota * share)) for lo, hi, share in LENGTH_BANDS] + [(MIN_WORDS, MAX_WORDS, quota)]
    for lo, hi, n in bands:  # the last band tops up whatever an earlier band could not fill
        got = 0
        for s in pool:
            if got >= n or len(chosen) >= quota:
                break
            if s not in taken and lo <= len(s.split()) <= hi and dedup.accept(s):
                chosen.append(s)
                taken.add(s)
                got += 1
    return chosen


def version(src: Source) -> str:
    return platform.python_version() if src.dist is None else importlib.metadata.version(src.dist)


def stats(sentences: list[str]) -> dict[str, float]:
    lengths = sorted(len(s.split()) for s in sentences)
    return {"min": lengths[0], "median": statistics.median(lengths),
            "p90": lengths[int(0.9 * (len(lengths) - 1))], "max": lengths[-1],
            f">={LONG_WORDS}": sum(n >= LONG_WORDS for n in lengths)}


def corpus_md(rows: list[tuple[Source, str, int, int]], st: dict[str, float], total: int, size: int) -> str:
    table = "\n".join(f"| {s.name} | `{s.module}` | {v} | {s.licence} | {pool} | {n} |" for s, v, pool, n in rows)
    lic = "\n".join(f"- **{s.name}** ({s.licence}): {s.why}" for s, *_ in rows)
    st_line = ", ".join(f"{k} {v:g}" for k, v in st.items())
    bands = ", ".join(f"{lo}-{hi}: {share:.0%}" for lo, hi, share in LENGTH_BANDS)
    return f"""# corpus_en.txt

English sentences edgekit uses for quantisation calibration and accuracy validation
(`edgekit.build.corpus.load_corpus()`). Real prose, one sentence per line, UTF-8;
{total} sentences, {size / 1024:.0f} KiB. Generated by `tools/build_corpus.py`; do not edit by hand.

## Provenance

Every sentence comes from a string literal - mostly docstrings - in the `.py` files of these
packages, located with `importlib.util.find_spec` (never imported) and read with `ast`. Text is
verbatim apart from collapsed whitespace, ASCII quotes/dashes and removed `*emphasis*` markers.
Python {platform.python_version()} built this file (`pydoc_data/topics.py` changes with each Python release).

| Source | Located as | Version | Licence | Candidates | Sentences |
|---|---|---|---|---|---|
{table}

Skipped: `tests`/`testing` directories, example sections, code blocks, and vendored
subpackages (any directory with its own LICENSE/COPYING file, `externals`, `array_api_*`).

## Licences

{lic}

These licences are permissive: they allow redistributing excerpts, modified or not, provided the
copyright notice and licence go with them. This file names the holders and licences; ship it next to
`corpus_en.txt`. The full texts are in each package's `*.dist-info` (`LICENSE.txt`, `licenses/`) and
in Python's `LICENSE.txt`; they ship beside the corpus in `CORPUS-LICENSES.txt`. Vendored
third-party files inside these packages are not read.

## Processing

1. Split docstrings into paragraphs (dropping numpydoc `name : type` lines, section rules,
   `Examples`/`See Also`/`References` sections, ``` fences and `::` literal blocks), then into sentences.
2. Normalise typographic quotes and dashes to ASCII and strip `*emphasis*` markup. Keep sentences
   that start with a capital letter, end in `.`, `!` or `?`, have {MIN_WORDS}-{MAX_WORDS} words, at most 2
   non-ASCII characters, balanced brackets and quotes, at most 2 parenthesised groups, no code
   markers (`>>>`, backticks, URLs, reST roles and directives, braces, `==`, `->`, `**`, `...`),
   at most one identifier-like token per 10 words, and at least 80% plain words.
3. Reject duplicates after normalisation (lower case, letters only) and near-duplicates: at most
   2 sentences may share their first or last five words, and no two-word opening ("Return the")
   may start more than 1.5% of the corpus.
4. Per source, shuffle with seed {SEED} and fill length bands (words: share of quota)
   {bands}; a band that runs short is topped up from any length. Then shuffle everything.
   The 40-80 word band exists so that sequences of 64-128 tokens occur.

## Length statistics (words per sentence)

{st_line}

## Rebuild

    python tools/build_corpus.py

Output is byte-identical for the same Python version and package versions listed above; other
versions change the candidate pools and therefore the sample. Commit both files together.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="print statistics, write nothing")
    args = ap.parse_args()
    rng = random.Random(SEED)
    dedup = NearDupFilter()
    rows, corpus = [], []
    for src in SOURCES:
        pool = candidates(src)
        chosen = pick(pool, src.quota, rng, dedup)
        rows.append((src, version(src), len(pool), len(chosen)))
        corpus += chosen
        print(f"{src.name}: {len(pool)} candidates, {len(chosen)} chosen")
    rng.shuffle(corpus)
    text = "\n".join(corpus) + "\n"
    st = stats(corpus)
    print(f"{len(corpus)} sentences, {len(text.encode())} bytes; words/sentence: {st}")
    if len(corpus) < 3000:
        raise SystemExit("fewer than 3000 sentences; check the sources")
    if not args.dry_run:
        OUT_TXT.write_text(text, encoding="utf-8")
        OUT_MD.write_text(corpus_md(rows, st, len(corpus), len(text.encode())), encoding="utf-8")
        print(f"wrote {OUT_TXT.relative_to(REPO)} and {OUT_MD.relative_to(REPO)}")


if __name__ == "__main__":
    main()
