# avlabel: `make demo` and `make test` set up everything on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Open3D's runtime libraries, and a virtual screen with software Vulkan for the viewer.
SYSTEM_PACKAGES := libusb-1.0-0 libgl1 libegl1 libgomp1 xvfb xauth mesa-vulkan-drivers libvulkan1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test system-packages install sample-data bench bench-simulate clean

demo: install
	$(BIN)/avlabel demo --out out/demo

test: install
	$(BIN)/python -m pytest

install: system-packages $(STAMP)

system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): pyproject.toml
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# Regenerates the committed sample log (deterministic for the seed).
sample-data: install
	$(BIN)/avlabel simulate sample_data/town_seed7.h5 --seconds 4 --seed 7 --profile sample

# Each benchmark prints its figures beside a peer measured in the same run.
bench: install
	$(BIN)/python benchmarks/bench_cluster.py
	$(BIN)/python benchmarks/bench_deskew.py
	$(BIN)/python benchmarks/bench_project.py
	$(BIN)/python benchmarks/bench_eval.py
	$(BIN)/python benchmarks/bench_tracking.py
	$(BIN)/python benchmarks/bench_viewer.py

# A 20 s log with the full-resolution profile: about 12 minutes on 2 cores.
bench-simulate: install
	$(BIN)/python benchmarks/bench_simulate.py

clean:
	rm -rf $(VENV) out .pytest_cache
