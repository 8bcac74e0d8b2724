"""A minimal app on the light install: `pip install edgekit` (no extras), then

    python examples/app.py path/to/bundle "first text" "second text"

It verifies the bundle's checksums, loads it with two threads and answers for the bundle's task.
Nothing here imports torch or transformers.
"""

from __future__ import annotations

import sys
import time

from edgekit import runtime
from edgekit.errors import EdgekitError


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    bundle, texts = argv[1], argv[2:]
    try:
        start = time.perf_counter()
        model = runtime.load(bundle, threads=2)
        loaded = time.perf_counter() - start
        start = time.perf_counter()
        answers = model(texts)
        elapsed = time.perf_counter() - start
    except EdgekitError as exc:  # a tampered bundle, a missing runtime, an empty text: one clear line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{model.manifest['target']['name']} ({model.task}); loaded in {loaded:.2f}s, "
          f"{len(texts)} text(s) in {elapsed * 1e3:.1f} ms")
    for text, answer in zip(texts, answers):
        if model.task == "text-classification":
            print(f"  {answer['label']:>12} {answer['score']:.3f}  {text}")
        elif model.task == "feature-extraction":
            print(f"  [{', '.join(f'{v:+.3f}' for v in answer[:4])}, ...]  {text}")
        else:
            print(f"  {answer}  {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
