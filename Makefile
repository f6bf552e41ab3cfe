# Two commands for a fresh machine: `make demo` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test lint typecheck bench clean

$(BIN)/coprod: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(BIN)/coprod

demo: $(BIN)/coprod
	$(BIN)/coprod demo

# The tests run in parallel, a worker per CPU up to four (tests/conftest.py), each worker taking whole
# files (--dist loadfile), so that a module's fixtures (the wheel test_packaging.py builds, the large
# reports) are made once. `$(BIN)/pytest` alone runs them in this one process.
test: $(BIN)/coprod
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory typecheck
	$(BIN)/pytest -n auto --dist loadfile

# mypy on the package as it installs (coprod.connectors, coprod.webhook_app live in other folders
# here); errors name the installed module path, e.g. coprod/connectors/sheets.py = connectors/sheets.py.
typecheck: $(BIN)/coprod
	rm -rf build/typecheck
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --target build/typecheck .
	cd build/typecheck && ../../$(BIN)/mypy --config-file ../../pyproject.toml -p coprod -p coprod_core

bench: $(BIN)/coprod
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) coprod-demo .pytest_cache build
