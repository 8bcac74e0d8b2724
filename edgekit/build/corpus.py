"""The packaged English corpus and user text files, for calibration and validation.

Standard library only, so it imports on a light install without torch.
"""

from __future__ import annotations

import csv
import json
import random
from importlib import resources
from pathlib import Path

from edgekit.errors import InputError

CORPUS_FILE = "corpus_en.txt"
# The corpus split reserves this many sentences for calibration, so validation never overlaps it.
CALIBRATION_RESERVE = 1000
TEXT_FIELDS = ("text", "sentence")


def load_corpus() -> list[str]:
    """The packaged sentences (see edgekit/data/CORPUS.md), in file order."""
    text = resources.files("edgekit.data").joinpath(CORPUS_FILE).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


def split_corpus(
    sentences: list[str], *, calibration: int, validation: int, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Disjoint (calibration, validation) samples, deterministic for a given seed.

    Why disjoint: validating on the calibration sentences would hide quantisation overfitting.
    Duplicates in the input are dropped first so the two lists never share a sentence.
    """
    if calibration < 0 or validation < 0:
        raise InputError(f"calibration ({calibration}) and validation ({validation}) sizes must be >= 0")
    unique = list(dict.fromkeys(sentences))
    if calibration + validation > len(unique):
        raise InputError(
            f"requested {calibration} calibration + {validation} validation = {calibration + validation} "
            f"texts, but only {len(unique)} distinct texts are available"
        )
    order = random.Random(seed).sample(unique, calibration + validation)
    return order[:calibration], order[calibration:]


def held_out_texts(count: int) -> list[str]:
    """`count` corpus sentences outside the calibration reserve. The split's seeded shuffle gives the same
    reserve whatever the validation size, so these never overlap any build's calibration texts."""
    return split_corpus(load_corpus(), calibration=CALIBRATION_RESERVE, validation=count)[1]


def read_text_file(path: str | Path) -> list[str]:
    """Texts from a .txt (one per line), .jsonl ("text"/"sentence"/first string field) or .csv file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"text file not found: {p}")
    suffix = p.suffix.lower()
    if suffix == ".txt":
        return [line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    if suffix == ".jsonl":
        return _read_jsonl(p)
    if suffix == ".csv":
        return _read_csv(p)
    raise InputError(f"unsupported text file type {p.suffix!r} for {p}; use .txt, .jsonl or .csv")


def read_jsonl_rows(p: Path) -> list[dict]:
    """The JSON objects of a .jsonl file, one per non-empty line; a bad line is one clear InputError."""
    return [row for _, row in _numbered_jsonl_rows(p)]


def _numbered_jsonl_rows(p: Path) -> list[tuple[int, dict]]:
    rows = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{p}: line {n} is not valid JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise InputError(f"{p}: line {n} is not a JSON object")
        rows.append((n, row))
    return rows


def _read_jsonl(p: Path) -> list[str]:
    texts = []
    for n, row in _numbered_jsonl_rows(p):
        named = [row[k] for k in TEXT_FIELDS if isinstance(row.get(k), str)]
        strings = named or [v for v in row.values() if isinstance(v, str)]
        if not strings:
            raise InputError(f'{p}: line {n} has no "text", "sentence" or other string field')
        texts.append(strings[0])
    return texts


def _read_csv(p: Path) -> list[str]:
    with p.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        column = next((c for c in TEXT_FIELDS if c in columns), None)
        if column is None:
            raise InputError(f'{p}: no "text" or "sentence" column; columns are: {", ".join(columns) or "(none)"}')
        return [row[column].strip() for row in reader if (row[column] or "").strip()]
