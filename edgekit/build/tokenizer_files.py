"""The special tokens a saved Hugging Face tokenizer names in its config files (standard library only)."""

from __future__ import annotations

import json
from pathlib import Path

SPECIAL_TOKENS = ("pad_token", "mask_token", "cls_token", "sep_token", "unk_token")
_CONFIG_FILES = ("special_tokens_map.json", "tokenizer_config.json")


def special_tokens(directory: Path) -> dict[str, str]:
    """{pad_token, mask_token, ...} as the first config file that names each gives it; RoBERTa's <pad> when
    none names a pad token."""
    found: dict[str, str] = {}
    for name in _CONFIG_FILES:
        path = Path(directory) / name
        if not path.is_file():
            continue
        for key, value in json.loads(path.read_text(encoding="utf-8")).items():
            if isinstance(value, dict):
                value = value.get("content")
            if key in SPECIAL_TOKENS and isinstance(value, str) and key not in found:
                found[key] = value
    found.setdefault("pad_token", "<pad>")
    return found
