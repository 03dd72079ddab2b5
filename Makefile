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
TRAIN_CONFIG ?= configs/train/dcgan64.yaml
STEPS ?=
TRAIN_ARGS ?=

.PHONY: setup sample-data ingest train demo test lint format clean

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

SAMPLE_IF_DEFAULT := $(if $(filter $(DATA)/sample/manifest.csv,$(MANIFEST)),$(DATA)/sample/manifest.csv)

ingest: setup $(SAMPLE_IF_DEFAULT)
	$(IDPHOTO) ingest --manifest $(MANIFEST) --out $(INGESTED) --use $(USE) --overwrite $(BEAM_ARGS)

# Training needs an ingested dataset; it is built once if missing (`make ingest` rebuilds it).
$(INGESTED)/dataset_info.json: | $(VENV)/.installed $(SAMPLE_IF_DEFAULT)
	$(IDPHOTO) ingest --manifest $(MANIFEST) --out $(INGESTED) --use $(USE) --overwrite $(BEAM_ARGS)

train: setup $(INGESTED)/dataset_info.json
	$(IDPHOTO) train --data $(INGESTED) --config $(TRAIN_CONFIG) $(if $(STEPS),--steps $(STEPS)) $(TRAIN_ARGS)

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
