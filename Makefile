# The two commands of the README: `make report` and `make test`. Both create and reuse .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PARAMS ?= params/default.yaml
# pytest-xdist workers for `make test`: test files run side by side, each file whole on one worker
WORKERS ?= 2
# cases whose models the install compiles ahead (`mmm-report warm`): their first report loads compiled code; WARM= skips
WARM   ?= params/default.yaml

.PHONY: install report refresh-demo test lint notebooks bench clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name mmm-report --display-name "Python (mmm-report)" >/dev/null
	@if [ -n "$(WARM)" ]; then $(BIN)/mmm-report warm $(WARM); fi
	@touch $(STAMP)

install: $(STAMP)

report: install  ## render params/default.yaml (or PARAMS=...) to reports/<case>/index.html
	$(BIN)/mmm-report run $(PARAMS)

refresh-demo: install  ## a case reported three times as its data grow (params/refresh_demo/), then certified
	$(BIN)/mmm-report run params/refresh_demo/month_1.yaml
	$(BIN)/mmm-report run params/refresh_demo/month_2.yaml
	$(BIN)/mmm-report run params/refresh_demo/month_3.yaml
	$(BIN)/mmm-report verify reports/refresh_demo

test: install  ## the whole suite: unit tests + papermill smoke runs, WORKERS files side by side
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist loadfile

lint: install
	$(BIN)/ruff check mmmhelpers tests notebooks benchmarks
	$(BIN)/mypy
	$(BIN)/python notebooks/build_notebooks.py --check

notebooks: install  ## regenerate notebooks/0N_*.ipynb from their jupytext sources notebooks/0N_*.py
	$(BIN)/python notebooks/build_notebooks.py

bench: install  ## run benchmarks/ one after the other and write benchmarks/results.md (ARGS="--only NAME": one)
	$(BIN)/python benchmarks/run_all.py $(ARGS)

clean:
	rm -rf reports/*/ reports/.*.tmp-* .pytest_cache
