# The two commands a new user types are `make demo` and `make test` (see README.md).
# Both call `make setup`, which installs everything and runs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed .cache/kafka/.fetched

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

.cache/kafka/.fetched: $(VENV)/.installed infra/kafka/pom.xml
	$(BIN)/pingan kafka fetch

demo: setup
	$(BIN)/pingan demo

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/pingan bench

clean:
	-$(BIN)/pingan kafka down
	rm -rf var
