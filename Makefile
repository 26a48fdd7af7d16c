# Two commands for a newcomer: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: run test ingest eval lint bench-retrieval bench-generation calibrate-refusal clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install torch==2.13.0  # the CPU build; a bare dependency would pull CUDA

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[test]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/qa-bot ingest
	$(BIN)/qa-bot serve

ingest: $(VENV)/.installed
	$(BIN)/qa-bot ingest

test: $(VENV)/.installed-test
	$(BIN)/pytest

bench-retrieval: $(VENV)/.installed
	$(BIN)/python bench/retrieval.py

bench-generation: $(VENV)/.installed-test  # the llama.cpp server comes with the test extras
	$(BIN)/python -m bench.generation

calibrate-refusal: $(VENV)/.installed
	$(BIN)/python bench/calibrate_refusal.py

eval: $(VENV)/.installed
	$(BIN)/qa-bot eval

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .qa-bot .pytest_cache
