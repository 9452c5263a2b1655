# The two set-up commands of the README: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.simrnn-installed

.PHONY: demo test lint install clean

$(STAMP): pyproject.toml scripts/install_torch.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	bash scripts/install_torch.sh $(PY)
	$(PY) -m pip install -q -e ".[dev,calibration,export]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/simrnn demo

test: $(STAMP)
	bash scripts/test.sh

lint: $(STAMP)
	bash scripts/lint.sh

clean:
	rm -rf $(VENV) runs demo_output
