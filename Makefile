# Two commands do all set-up on a fresh machine:  `make run`  and  `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export KEDRO_DISABLE_TELEMETRY := 1
export NO_MKDOCS_2_WARNING := 1

.PHONY: install run test lint viz docs clean clean-tracking

install: $(VENV)/.installed

# re-install only when the dependencies change
$(VENV)/.installed: pyproject.toml requirements-executorch.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[dev]"
	$(BIN)/python -m pip install --no-deps -r requirements-executorch.txt
	touch $@

run: install  ## the default pipeline on the embedded demo data
	$(BIN)/kedro run

# The whole suite: the tests that share the machine well on every core, one thread each; then those
# marked `serial` (timings, several processes) alone. Both parts run; either failing fails.
TEST_WORKERS ?= auto
test: install lint  ## the whole test suite
	@status=0; \
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup -m "not serial" || status=$$?; \
	$(BIN)/python -m pytest -m serial || status=$$?; \
	exit $$status

lint: install
	$(BIN)/ruff check src tests benchmarks docs

viz: install
	$(BIN)/kedro viz run

docs: install  ## the manual (docs/) as a site in site/, strict: broken links fail
	$(BIN)/mkdocs build --strict

# generated data, versions and the resume checkpoints (search.checkpoint_dir, train.checkpoint_dir
# and transfer.checkpoint_dir are under data/06_models); keeps the folder skeleton, the reference
# tables and the experiment-tracking store (data/09_tracking: `make clean-tracking` empties it)
clean:
	find data -type f ! -name .gitkeep ! -path "data/01_raw/reference/*" ! -path "data/09_tracking/*" -delete
	find data -mindepth 2 -type d -empty ! -path "data/09_tracking/*" -delete

clean-tracking:
	find data/09_tracking -mindepth 1 ! -name .gitkeep -delete
