"""Tests for edgekit.build.corpus: the packaged corpus, the calibration/validation split and text-file reading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgekit.build.corpus import load_corpus, read_text_file, split_corpus
from edgekit.errors import InputError


def test_corpus_is_large_clean_and_unique() -> None:
    corpus = load_corpus()
    assert len(corpus) >= 3000
    assert len(set(corpus)) == len(corpus)
    assert all(s == s.strip() and "\n" not in s for s in corpus)
    assert all(s[0].isupper() and s[-1] in ".!?" for s in corpus)
    lengths = sorted(len(s.split()) for s in corpus)
    assert 12 <= lengths[len(lengths) // 2] <= 25  # realistic median
    assert sum(n >= 40 for n in lengths) >= 50  # long sentences give 64-128 token sequences


def test_split_is_disjoint_sized_and_deterministic() -> None:
    corpus = load_corpus()
    cal, val = split_corpus(corpus, calibration=300, validation=200, seed=7)
    assert (len(cal), len(val)) == (300, 200)
    assert not set(cal) & set(val)
    assert set(cal) | set(val) <= set(corpus)
    assert split_corpus(corpus, calibration=300, validation=200, seed=7) == (cal, val)
    assert split_corpus(corpus, calibration=300, validation=200, seed=8)[0] != cal


def test_split_is_disjoint_even_with_duplicate_input() -> None:
    cal, val = split_corpus(["a", "a", "b", "c"], calibration=1, validation=2)
    assert sorted(cal + val) == ["a", "b", "c"]


def test_split_too_large_names_the_numbers() -> None:
    with pytest.raises(InputError, match=r"3 calibration \+ 2 validation = 5 .* only 4"):
        split_corpus(["a", "b", "c", "d"], calibration=3, validation=2)


def test_split_rejects_negative_sizes() -> None:
    with pytest.raises(InputError, match="-1"):
        split_corpus(["a"], calibration=-1, validation=0)


def test_read_txt_skips_blank_lines(tmp_path: Path) -> None:
    p = tmp_path / "t.txt"
    p.write_text("First text.\n\n   \n  Second text.  \n", encoding="utf-8")
    assert read_text_file(p) == ["First text.", "Second text."]


def test_read_jsonl_fields(tmp_path: Path) -> None:
    p = tmp_path / "t.jsonl"
    rows = [
        {"sentence": "Not this.", "id": 1, "text": "From text."},  # "text" wins over "sentence"
        {"label": "x", "sentence": "From sentence."},  # "sentence" wins over other strings
        {"id": 3, "body": "First string.", "note": "Second string."},
    ]
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    assert read_text_file(p) == ["From text.", "From sentence.", "First string."]


@pytest.mark.parametrize(
    ("bad", "match"),
    [('{"id": 2}', "line 2 has no"), ("not json", "line 2 is not valid JSON"), ("[1, 2]", "line 2 is not a JSON object")],
)
def test_read_jsonl_errors_name_the_line(tmp_path: Path, bad: str, match: str) -> None:
    p = tmp_path / "t.jsonl"
    p.write_text('{"text": "ok"}\n' + bad + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=match):
        read_text_file(p)


def test_read_csv_text_and_sentence_columns(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text('id,text\n1,"Hello, world."\n2,\n3,Bye.\n', encoding="utf-8")
    assert read_text_file(p) == ["Hello, world.", "Bye."]
    p.write_text("sentence,label\nOne.,a\nTwo.,b\n", encoding="utf-8")
    assert read_text_file(p) == ["One.", "Two."]


def test_read_csv_without_text_column_lists_columns(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("id,body\n1,Hi.\n", encoding="utf-8")
    with pytest.raises(InputError, match="columns are: id, body"):
        read_text_file(p)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(InputError, match="nope.txt"):
        read_text_file(missing)


def test_unsupported_suffix(tmp_path: Path) -> None:
    p = tmp_path / "t.parquet"
    p.write_bytes(b"x")
    with pytest.raises(InputError, match="unsupported"):
        read_text_file(p)
