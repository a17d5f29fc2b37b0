# tryvoha: `make run` serves on the embedded SQLite store; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
STORE ?= sqlite:///var/tryvoha.db

.PHONY: setup run test lint typecheck pytest bench demo screenshots clean system-test system-bench

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# Debian packages the tests need (chromium for the browser tests, PostgreSQL for the second
# store, nats-server for the bus across machines, Mosquitto for MQTT: the tests start their own; node runs the
# JavaScript webhook verifier of docs/webhooks.md); installed when missing.
system-test:
	@scripts/need-apt chromium:chromium 'postgresql:/usr/lib/postgresql/*/bin/initdb' nats-server:/usr/sbin/nats-server mosquitto:/usr/sbin/mosquitto nodejs:node

system-bench:
	@scripts/need-apt nginx:/usr/sbin/nginx libnginx-mod-nchan:/usr/lib/nginx/modules/ngx_nchan_module.so wrk:wrk 'postgresql:/usr/lib/postgresql/*/bin/initdb' nats-server:/usr/sbin/nats-server mosquitto:/usr/sbin/mosquitto

run: setup
	@mkdir -p var
	$(BIN)/tryvoha serve --host $(HOST) --port $(PORT) --store $(STORE)

lint: setup
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

typecheck: setup
	$(BIN)/mypy

# Three test processes on two cores: the suite mostly waits on the real servers it starts
# (28 min in one process, 13 in three, on the 2-core CI machine).
TEST_WORKERS ?= 3
pytest: setup system-test system-bench
	$(BIN)/pytest -n $(TEST_WORKERS)

test: lint typecheck pytest

bench: setup system-bench
	$(BIN)/python -m bench.run $(BENCH_ARGS)

demo: setup
	$(BIN)/tryvoha demo

# The README's screenshots (docs/screenshot-*.png), taken by the browser tests.
screenshots: setup system-test
	TRYVOHA_SCREENSHOTS=docs $(BIN)/pytest tests/web/test_browser_docs.py -q

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
