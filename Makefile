# Two commands set everything up on a fresh machine: `make test` (and, with the studio, `make run`).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Rebuilt when the dependency lists change; `make clean-venv` forces a fresh one.
STAMP := $(VENV)/.installed

.PHONY: run test test-full dist test-dist bundle test-bundle lint format clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml installer/constraints.txt installer/no-deps.txt installer/system-packages.sh \
		engine/backends/tfjs_runner/package-lock.json
	bash installer/system-packages.sh
	$(PY) -m pip install --quiet --constraint installer/constraints.txt --editable '.[dev,export,studio]'
	$(PY) -m pip install --quiet --constraint installer/constraints.txt --no-deps -r installer/no-deps.txt
	bash installer/tfjs-runner.sh
	touch $(STAMP)

# The studio, opening the demo project (made on first use).
run: $(STAMP)
	@if [ -z "$$DISPLAY$$WAYLAND_DISPLAY" ] && [ -z "$$QT_QPA_PLATFORM" ]; then \
		echo "make run needs a desktop session (no DISPLAY or WAYLAND_DISPLAY is set)."; \
		echo "On a machine without one: xvfb-run make run"; exit 1; fi
	$(VENV)/bin/yolo-studio --demo

# Two worker processes (pytest-xdist), each test file kept on one worker (module fixtures such
# as the console test's trained runs are made once): on 2 cores the suite took 11.9 min this
# way against 14.6 min in one process, because much of it waits on child processes and I/O.
PYTEST_WORKERS = --numprocesses=auto --maxprocesses=2 --dist=loadfile

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_WORKERS)

# Everything in `make test`, plus the whole task x format matrix through the `yolo` console
# script (about 20 minutes more on 2 cores; tests/engine/test_yolo_console.py says what runs where).
test-full: $(STAMP)
	$(PY) -m pytest $(PYTEST_WORKERS) -m "not dist and not bundle"

# dist/yolo_studio-<version>-py3-none-any.whl and the sdist (the wheel is built from the sdist,
# so both are checked); the version is engine/version.py's. --no-isolation: built with the
# venv's pinned build and setuptools (installer/constraints.txt), no download.
dist: $(STAMP)
	rm -f dist/yolo_studio-*.whl dist/yolo_studio-*.tar.gz
	$(PY) -m build --no-isolation --outdir dist .

# The wheel installed into a brand-new venv with the constraints, its console scripts run from
# outside the checkout, offline, from a read-only install (tests/installer/test_wheel_install.py;
# marker `dist`). Dependencies come from a wheelhouse, ~/.cache/yolo-studio-dev/wheelhouse
# (YOLO_STUDIO_WHEELHOUSE moves it): filled from the registry on the first run, offline after.
test-dist: $(STAMP)
	$(PY) -m pytest -m dist tests/installer

# The Linux desktop bundle (installer/bundle/) and its test under Xvfb.
bundle: $(STAMP)
	bash installer/bundle/build.sh

test-bundle: $(STAMP)
	bash installer/bundle/test.sh

lint: $(STAMP)
	$(PY) -m ruff check engine studio tests benchmarks tools

format: $(STAMP)
	$(PY) -m ruff format engine studio tests benchmarks

clean-venv:
	rm -rf $(VENV)
