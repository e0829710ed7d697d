# One-command set-up: `make demo` and `make test` create .venv and install everything
# (core + the three plugins, editable) the first time, and reuse it afterwards.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mixseq-installed
INSTALL_INPUTS := pyproject.toml plugins/dvae/pyproject.toml plugins/mot/pyproject.toml \
	plugins/audio/pyproject.toml requirements/torch.txt requirements/dev.txt requirements/docs.txt

.PHONY: setup demo test lint typecheck docs bench clean

$(STAMP): $(INSTALL_INPUTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -r requirements/torch.txt
	$(PY) -m pip install --quiet -c requirements/torch.txt -r requirements/dev.txt -r requirements/docs.txt \
		-e . -e plugins/dvae -e plugins/mot -e plugins/audio
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/mixseq demo

test: setup
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check mixseq plugins tests benchmarks docs

typecheck: setup
	$(VENV)/bin/mypy mixseq

docs: setup
	$(VENV)/bin/sphinx-build -W -b html docs docs/_build/html

bench: setup
	$(PY) benchmarks/engine.py

clean:
	rm -rf $(VENV) demo-output docs/_build
