# Two commands a new user needs: `make test` and `make demo`. Each installs what it needs first.
PY := .venv/bin/python
STAMP := .venv/.installed
export PATH := $(CURDIR)/.tools/bin:$(CURDIR)/node_modules/.bin:$(CURDIR)/.venv/bin:$(PATH)
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install test test-fast demo bench scale-demo receiver lint format lock clean

install: $(STAMP) node_modules/.package-lock.json .tools/.kube-tools .tools/az/.installed

# Development installs requirements-dev.lock (the product's requirements.lock plus the test and lint tools).
$(STAMP): pyproject.toml requirements-dev.lock
	test -x .venv/bin/python || python3.11 -m venv .venv || python3 -m venv .venv
	.venv/bin/python -m pip install -q uv
	.venv/bin/uv pip install -q --python .venv/bin/python -r requirements-dev.lock
	.venv/bin/uv pip install -q --python .venv/bin/python --no-deps -e .
	touch $(STAMP)

node_modules/.package-lock.json: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

.tools/.kube-tools: $(STAMP) tools/install_kube_tools.sh
	bash tools/install_kube_tools.sh

.tools/az/.installed: tools/az-requirements.lock tools/install_az.sh | $(STAMP)
	bash tools/install_az.sh

# requirements.lock: what the product needs in production; requirements-dev.lock: that plus the dev extra.
lock:
	.venv/bin/uv pip compile pyproject.toml -o requirements.lock
	.venv/bin/uv pip compile pyproject.toml --extra dev -o requirements-dev.lock

.tools/.system-packages: tools/install_system_packages.sh
	bash tools/install_system_packages.sh

test: install .tools/.system-packages
	$(PY) -m pytest -n 2 --dist loadgroup tests

test-fast: install
	$(PY) -m pytest -m "not e2e and not chaos" tests

demo: install
	$(PY) -m tools.demo $(DEMO_ARGS)

bench: install
	$(PY) -m benchmarks.run $(BENCH_ARGS)

# The push-event receiver (README "Receiver"); needs PREFECT_API_URL and the ONBOARDING_RECEIVER_ secrets.
receiver: install
	$(PY) -m receiver $(RECEIVER_ARGS)

scale-demo: install .tools/.system-packages
	$(PY) -m tools.scale_demo $(SCALE_ARGS)

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

format: install
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

clean:
	rm -rf .venv node_modules .tools .prefect .pytest_cache
