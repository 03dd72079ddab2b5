# idphoto: every target installs what it needs first, so a fresh clone needs only `make demo`
# or `make test`. Variables can be set on the command line: `make ingest USE=commercial`.

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
IDPHOTO := $(BIN)/idphoto
DATA ?= data
# 2,000 portraits: after the licence filter, about 770 for commercial use and 1,230 for research.
SAMPLE_N ?= 2000
MANIFEST ?= $(DATA)/sample/manifest.csv
# The intended use; its default is `default_use` in configs/licence_policy.yaml (read, not copied).
USE ?= $(shell sed -n 's/^default_use: *\([a-z_-]*\).*/\1/p' configs/licence_policy.yaml)
INGESTED ?= $(DATA)/ingested-$(USE)
BEAM_ARGS ?=
# The default generator (DEFAULT_TRAIN_CONFIG in idphoto/training/config.py names the same one).
TRAIN_CONFIG ?= configs/train/fastgan64.yaml
# Empty: the config's own schedule; `make train STEPS=500` trains 500 steps.
STEPS ?=
TRAIN_ARGS ?=
RUN ?= latest
PROMOTE_CONFIG ?= configs/promote/default.yaml
ALIAS ?= champion
PROMOTE_ARGS ?=
MODEL ?= models:/idphoto-generator@$(ALIAS)
N ?= 8
PRESET ?= passport-35x45
PHOTOS ?= generated
GENERATE_ARGS ?=
# The keys that sign generated photos' Content Credentials: outside the project, so a private key
# is never committed with it; `make keys` (or the first `make generate`) makes them.
export IDPHOTO_KEYS ?= $(or $(XDG_CONFIG_HOME),$(HOME)/.config)/idphoto/keys
UI_PORT ?= 5000
# Every command reads MLFLOW_TRACKING_URI; the default is the project's SQLite store.
export MLFLOW_TRACKING_URI ?= sqlite:///$(CURDIR)/mlflow.db

.PHONY: browser setup sample-data ingest train promote keys generate ui demo test reliability lint format bench wheel prism clean

setup: $(VENV)/.installed

$(VENV)/.installed: constraints.txt setup.cfg setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

$(DATA)/sample/manifest.csv: | $(VENV)/.installed
	$(IDPHOTO) sample-data --out $(DATA)/sample --n $(SAMPLE_N)

sample-data: setup
	$(IDPHOTO) sample-data --out $(DATA)/sample --n $(SAMPLE_N) --overwrite

SAMPLE_IF_DEFAULT := $(if $(filter $(DATA)/sample/manifest.csv,$(MANIFEST)),$(DATA)/sample/manifest.csv)

# Where the ingest job runs: `direct` (Beam's DirectRunner, every core of this machine) or
# `prism` (Beam's portable runner, built here from the Beam Go SDK, with the Python work in a
# pool of SDK worker processes on WORKER_POOL_PORT).
RUNNER ?= direct
WORKER_POOL_PORT ?= 50000
BEAM_VERSION := $(shell sed -n 's/^apache-beam==//p' constraints.txt)
PRISM := build/bin/prism-$(BEAM_VERSION)
RUNNER_NEEDS_direct :=
RUNNER_LAUNCH_direct :=
RUNNER_ARGS_direct :=
RUNNER_NEEDS_prism := $(PRISM)
RUNNER_LAUNCH_prism = $(BIN)/python -m pipelines.worker_pool --port $(WORKER_POOL_PORT) --
RUNNER_ARGS_prism = --runner=PrismRunner --prism_location=$(CURDIR)/$(PRISM) \
  --environment_type=EXTERNAL --environment_config=localhost:$(WORKER_POOL_PORT)
$(if $(filter $(RUNNER),direct prism),,$(error RUNNER must be direct or prism, not $(RUNNER)))

ingest: setup $(SAMPLE_IF_DEFAULT) $(RUNNER_NEEDS_$(RUNNER))
	$(RUNNER_LAUNCH_$(RUNNER)) $(IDPHOTO) ingest --manifest $(MANIFEST) --out $(INGESTED) \
	  --use $(USE) --overwrite $(RUNNER_ARGS_$(RUNNER)) $(BEAM_ARGS)

# Prism at the Python SDK's Beam version, built with Go from the Beam Go SDK (the Go module
# proxy and checksum database vouch for the sources); cached in build/bin.
prism: $(PRISM)

$(PRISM): constraints.txt
	@command -v go >/dev/null || { echo "building Prism needs Go (1.22 or newer)"; exit 1; }
	GOBIN=$(CURDIR)/build/gobin go install github.com/apache/beam/sdks/v2/go/cmd/prism@v$(BEAM_VERSION)
	mkdir -p $(dir $@) && mv build/gobin/prism $@

# Training needs an ingested dataset; it is built once if missing (`make ingest` rebuilds it).
$(INGESTED)/dataset_info.json: | $(VENV)/.installed $(SAMPLE_IF_DEFAULT)
	$(IDPHOTO) ingest --manifest $(MANIFEST) --out $(INGESTED) --use $(USE) --overwrite $(BEAM_ARGS)

train: setup $(INGESTED)/dataset_info.json
	$(IDPHOTO) train --data $(INGESTED) --config $(TRAIN_CONFIG) $(if $(STEPS),--steps $(STEPS)) $(TRAIN_ARGS)

promote: setup
	$(IDPHOTO) promote --run $(RUN) --use $(USE) --alias $(ALIAS) --config $(PROMOTE_CONFIG) $(PROMOTE_ARGS)

keys: $(IDPHOTO_KEYS)/signer.pem

$(IDPHOTO_KEYS)/signer.pem: | $(VENV)/.installed
	$(IDPHOTO) keys init --keys $(IDPHOTO_KEYS)

generate: setup keys
	$(IDPHOTO) generate --model $(MODEL) --n $(N) --preset $(PRESET) --out $(PHOTOS) --overwrite $(GENERATE_ARGS)

# The MLflow UI over the same store, on this machine only (127.0.0.1).
# The runs page of the idphoto experiment (MLflow 3 opens an experiment on its runs only when
# it knows the experiment's kind, which idphoto sets).
RUNS_LINK = $(BIN)/python -c "import mlflow; e = mlflow.get_experiment_by_name('idphoto'); print('http://127.0.0.1:$(UI_PORT)/' + (f'\#/experiments/{e.experiment_id}/runs?workflowType=machine_learning' if e else ''))"

ui: setup
	@echo "runs: $$($(RUNS_LINK))"
	$(BIN)/mlflow ui --backend-store-uri $(MLFLOW_TRACKING_URI) --host 127.0.0.1 --port $(UI_PORT)

# The whole pipeline on the sample data, offline on a CPU: a dataset for commercial use, a run
# of the default config's schedule (fastgan64 passes the default promotion gates from about step
# 500; its 1,000 steps draw cleaner faces), its promotion through every gate of
# configs/promote/default.yaml, and labelled photos. Each step is skipped when already done, so
# running `make demo` again is quick; `make clean demo` starts over.
DEMO_DATA := $(DATA)/ingested-commercial
DEMO_RUN := runs/demo
DEMO_RUN_ID = $$($(BIN)/python -c "import json; print(json.load(open('$(DEMO_RUN)/mlflow_run.json'))['run_id'])")

$(DEMO_DATA)/dataset_info.json: | $(VENV)/.installed $(DATA)/sample/manifest.csv
	$(IDPHOTO) ingest --manifest $(DATA)/sample/manifest.csv --out $(DEMO_DATA) --use commercial --overwrite

DEMO_BASELINE_RUN := runs/demo-seed-dcgan

demo: setup keys $(DEMO_DATA)/dataset_info.json
	@# A second run to compare with in the MLflow UI: the reference DCGAN of the original design.
	$(IDPHOTO) train --data $(DEMO_DATA) --config configs/train/seed_dcgan.yaml --out $(DEMO_BASELINE_RUN) --use commercial
	$(IDPHOTO) train --data $(DEMO_DATA) --config $(TRAIN_CONFIG) --out $(DEMO_RUN) --use commercial $(TRAIN_ARGS)
	@# A refusal keeps the alias where it was (e.g. after `make clean demo`, a new run that does
	@# not beat the current champion); the demo then goes on only if the audit finds the
	@# champion gated.
	$(IDPHOTO) promote --run $(DEMO_RUN_ID) --use commercial || $(IDPHOTO) registry audit --model idphoto-generator
	$(IDPHOTO) generate --model models:/idphoto-generator@champion --n 4 --preset $(PRESET) --out $(PHOTOS) --overwrite
	$(IDPHOTO) detect $(PHOTOS)/photo-* --manifest $(PHOTOS)/manifest.json
	@echo "photos: $(PHOTOS)/ (labelled AI-generated: watermark, signed Content Credentials, XMP; see $(PHOTOS)/manifest.json)"
	@echo "compare the two runs, their metrics, grids and the registry: make ui, then open $$($(RUNS_LINK))"

# The browser test renders the MLflow UI in Debian's Chromium; it is installed when missing.
browser:
	@command -v chromium >/dev/null || { echo "installing Debian's chromium for the browser test"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: setup browser prism
	$(BIN)/pytest

# kill -9 of ingest and training at random points (seeds x kill points), reruns, and the figures.
RELIABILITY_ARGS ?= --seeds 3 --kills 4 --train-kills 2
reliability: setup
	$(BIN)/python -m tests.faults.fault_loop $(RELIABILITY_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Benchmarks, each stage against its own baseline (an estimated 14 minutes on 2 idle cores; not
# part of `make test`): writes bench/results.json and prints a table. `BENCH_ARGS="--scale 4"`
# does four times the work; `BENCH_ARGS="--tests"` also times the test suite.
BENCH_ARGS ?=
bench: setup
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# The installable package (configs included) in dist/, for training machines and Beam workers.
wheel: setup
	$(BIN)/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist .

clean:
	rm -rf $(DATA) runs generated
