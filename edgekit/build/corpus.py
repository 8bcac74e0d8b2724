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


def max_validation_samples() -> int:
    """The most held-out texts a build can validate on: the distinct corpus sentences outside the reserve."""
    return len(set(load_corpus())) - CALIBRATION_RESERVE


def read_text_file(path: str | Path, what: str = "text file") -> list[str]:
    """Texts from a .txt (one per line), .jsonl ("text"/"sentence"/first string field) or .csv file.
    `what` names the file in errors ("calibration file")."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{what} {str(p)!r} is a directory; give a .txt, .jsonl or .csv file")
    if not p.is_file():
        raise InputError(f"{what} not found: {p}")
    suffix = p.suffix.lower()
    readers = {".txt": _read_txt, ".jsonl": _read_jsonl, ".csv": _read_csv}
    if suffix not in readers:
        raise InputError(f"unsupported {what} type {p.suffix!r} for {p}; use .txt, .jsonl or .csv")
    try:
        return readers[suffix](p)
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {str(p)!r} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                         f"{exc.start}); give a .txt, .jsonl or .csv file") from None
    except OSError as exc:  # unreadable (permissions) or vanished between the checks and the read
        raise InputError(f"cannot read {what} {str(p)!r}: {exc.strerror or exc}") from None


def read_calibration_file(path: str | Path) -> list[str]:
    """The texts of a user's calibration file; an empty one is an error, not a silent fallback."""
    texts = read_text_file(path, what="calibration file")
    if not texts:
        raise InputError(f"calibration file {str(path)!r} has no texts (it is empty or blank); give one text "
                         f'per line (.txt), a "text" field per line (.jsonl) or a "text" column (.csv)')
    return texts


def _read_txt(p: Path) -> list[str]:
    return [line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


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
