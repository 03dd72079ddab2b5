# idphoto: every target installs what it needs first, so a fresh clone needs only `make demo`
# or `make test`. Variables can be set on the command line: `make ingest USE=commercial`.

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
IDPHOTO := $(BIN)/idphoto
DATA ?= data
SAMPLE_N ?= 40
MANIFEST ?= $(DATA)/sample/manifest.csv
USE ?= research
INGESTED ?= $(DATA)/ingested-$(USE)
BEAM_ARGS ?=

.PHONY: setup sample-data ingest demo test lint format clean

setup: $(VENV)/.installed

$(VENV)/.installed: constraints.txt setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

$(DATA)/sample/manifest.csv: | $(VENV)/.installed
	$(IDPHOTO) sample-data --out $(DATA)/sample --n $(SAMPLE_N)

sample-data: setup
	$(IDPHOTO) sample-data --out $(DATA)/sample --n $(SAMPLE_N) --overwrite

ingest: setup $(if $(filter $(DATA)/sample/manifest.csv,$(MANIFEST)),$(DATA)/sample/manifest.csv)
	$(IDPHOTO) ingest --manifest $(MANIFEST) --out $(INGESTED) --use $(USE) --overwrite $(BEAM_ARGS)

demo: ingest

test: setup
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(DATA) runs
