# Two commands for a fresh machine: `make demo` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/coprod: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(BIN)/coprod

demo: $(BIN)/coprod
	$(BIN)/coprod demo

test: $(BIN)/coprod
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: $(BIN)/coprod
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) coprod-demo .pytest_cache
