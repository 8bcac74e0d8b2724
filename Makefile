# Two commands for a newcomer: `make demo` and `make test`. Both create .venv when missing and
# install the project into it; a second run with an up-to-date .venv installs nothing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.edgekit-installed

.PHONY: setup demo test test-arm arm64 browser clean-venv

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: the CPU wheel. An unpinned torch pulls a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[export,report,dev]"
	@touch $(STAMP)

setup: $(STAMP)

DEMO_OUT := edgekit-out/random-distilroberta-base
demo: setup
	$(VENV)/bin/edgekit export --model random:distilroberta-base --target openvino-int8 --force
	@# A short bench of the demo artefact against plain onnx-fp32, timed interleaved.
	$(VENV)/bin/edgekit export --model random:distilroberta-base --target onnx-fp32 --force --quiet
	$(VENV)/bin/edgekit bench $(DEMO_OUT)-openvino-int8 $(DEMO_OUT)-onnx-fp32 --seq-lens 128 --runs 20 \
		--out edgekit-out/demo-bench.json

# The HTML report test opens the page in headless Chromium (Debian's package), installed when absent and this
# runs as root; without root the test is skipped and says why.
browser:
	@command -v chromium >/dev/null && exit 0; \
	if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	else echo "make browser: installing Debian's chromium needs root; the HTML report's browser test will be skipped"; fi

# The ARM tier runs ARM artefacts in an emulated ARM64 Python (qemu user mode; no root): built once, cached in
# .arm64/, pinned in tools/arm64/requirements.txt.
arm64:
	tools/arm64/setup.sh

test: setup browser arm64
	$(PY) -m pytest -q

test-arm: setup arm64
	$(PY) -m pytest -q tests/test_arm64.py

clean-venv:
	rm -rf $(VENV)
