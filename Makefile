# Two commands for a fresh machine:  `make demo`  and  `make test`  (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell $(PYTHON) -c 'import hashlib,sys;print(hashlib.sha256(open("pyproject.toml","rb").read()).hexdigest()[:12])')
DEMO   := playbooks/examples/smollm2-135m-demo.playbook.yaml

.PHONY: demo test models lint install

# The venv with the package, the reference engine (llama-cpp-python builds natively once: ~5 min) and dev tools.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc 2>/dev/null || echo 2) $(BIN)/python -m pip install --quiet -e '.[engine,dev]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

models: $(STAMP)
	$(BIN)/python scripts/fetch_models.py

demo: models
	$(BIN)/aprqa run $(DEMO) --model-path models/smollm2-135m/model.gguf --output-dir aprqa-out

test: models
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
