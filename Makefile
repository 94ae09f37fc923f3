# Two commands do all the set-up on a fresh machine:  make demo  |  make test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install system-deps demo test ui clean-renders

# Everything from PyPI, pinned by constraints.txt. mediapipe goes in with --no-deps: its
# declared requirements would add GUI OpenCV wheels and jax, none of which it needs here.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e .
	$(BIN)/python -m pip install -q --no-deps -c constraints.txt mediapipe
	touch $@

install: $(STAMP)

# Debian packages the tests need: flite makes test speech that the recogniser can read.
system-deps:
	@command -v flite >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q flite; \
	  else sudo apt-get update -q && sudo apt-get install -y -q flite; fi; }

demo: install
	$(BIN)/vidpipe demo

test: install system-deps
	$(BIN)/python -m pytest -q -p no:cacheprovider

ui: install
	$(BIN)/vidpipe ui
