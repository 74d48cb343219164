# Two commands do everything on a machine with python3 and pip:
#   make run    set up .venv if needed, then run the kit's main job
#   make test   set up .venv if needed, then run every test
# The rest: make lab (JupyterLab), make notebooks (re-execute the committed notebooks),
# make bench (benchmarks), make lock (refresh the lock file).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Touched after a complete install, so an interrupted one is redone next time.
INSTALLED := $(VENV)/.installed
# JupyterLab refuses to run as root unless told it may (containers, some CI machines).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: setup run demo test test-quick lint lab notebooks bench lock clean

setup: $(INSTALLED)

$(INSTALLED): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

# The Titanic system operating for a simulated week: backfill and training on day one,
# then feature pipeline, batch inference and monitoring every day (notebooks/titanic/pipelines.yml).
# Runs already completed are not repeated; `make clean` starts over.
# On a terminal it shows progress bars; otherwise (CI, a log file) one line per notebook run.
run: setup
	$(BIN)/fti run titanic --start 2026-01-01 --days 7 --store data/store
	@echo "executed notebooks: runs/titanic/DATE/   dashboard: dashboards/titanic/index.html"
	@echo "store: data/store (simulated)   run log: $(BIN)/fti runs titanic   what it holds: $(BIN)/fti store"

# A two-minute tour of the store and registry on synthetic card transactions, on the real clock:
# in the lab's store, since data/store holds the simulated course and refuses real-clock commits.
demo: setup
	$(BIN)/python -m fti.teach.demo --store data/lab-store

# The linters first (style, and the import contracts that keep the layers apart), then the
# tests, then nbval: every committed notebook re-executed and its outputs compared strictly.
test: setup lint
	$(BIN)/python -m pytest tests
	$(BIN)/python -m pytest --nbval notebooks --nbval-sanitize-with notebooks/nbval_sanitize.cfg -p no:cacheprovider

# The quick set while developing: everything but the end-to-end notebook runs.
test-quick: setup
	$(BIN)/python -m pytest tests -m "not slow"

# ruff (config in pyproject.toml) and import-linter (the layer contracts, same file).
lint: setup
	$(BIN)/ruff check shared tests benchmarks
	$(BIN)/lint-imports

# Re-execute the example notebooks in place, as each folder's story.yml says (fresh store,
# fixed clock per notebook, simulated days before some): commit the result.
notebooks: setup
	$(BIN)/python -m fti.run.build

# Opens on the course's index, notebooks/00_start_here.ipynb (the FTI map and every notebook in order).
# root_dir stays the repository: given a file alone, Jupyter would serve only the file's folder,
# and the index's links to ../exercises/ would lead nowhere.
# Its kernels write to a store of their own, data/lab-store/ (absolute: each kernel starts in its
# notebook's folder): experiments on the real clock never mix with the simulated days `make run`
# keeps in data/store/ (which refuses real-clock commits anyway; reading it is fine).
lab: setup
	FTI_STORE=$(CURDIR)/data/lab-store $(BIN)/jupyter lab $(ROOT_FLAG) --ServerApp.root_dir=. notebooks/00_start_here.ipynb

bench: setup
	$(BIN)/python benchmarks/bench_store.py
	$(BIN)/python benchmarks/bench_commits.py
	$(BIN)/python benchmarks/bench_online_checks.py
	$(BIN)/python benchmarks/bench_runner.py
	$(BIN)/python benchmarks/bench_executors.py
	$(BIN)/python benchmarks/bench_stream.py
	$(BIN)/python benchmarks/bench_feature_view_logging.py
	$(BIN)/python benchmarks/bench_http.py
	$(BIN)/python benchmarks/bench_fraud_serving.py

# Needs uv (pip install uv); resolves for every platform and Python >= 3.11 at once.
lock:
	uv pip compile requirements.in --universal --python-version 3.11 --generate-hashes --no-header -o requirements.lock

clean:
	rm -rf $(VENV) data/store data/*-store data/exercise-stores runs dashboards .pytest_cache
