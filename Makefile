# Two entry points, each doing its own set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU build of torch that lies on the development machines; plain `torch` would pull CUDA.
TORCH  := torch==2.13.0
DEMO_OUT ?= demo-out

.PHONY: demo test lint install clean

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing vigil into $(VENV) (first run takes a few minutes)" >&2
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH) 2>&1 | grep -v "^WARNING: Location" >&2 || true
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,vjepa2]' 2>&1 | grep -v "^WARNING: Location" >&2 || true
	@$(BIN)/python -c "import vigil, torch" || (echo "installation failed; see the pip output above" >&2; exit 1)
	@touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/vigil demo --out $(DEMO_OUT)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
