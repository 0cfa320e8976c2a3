# Thin aliases; scripts/test is the real entry point and works without make.
PYTHON ?= .venv/bin/python

.PHONY: test servers stop-servers lint demo

test:
	scripts/test

servers:
	$(PYTHON) -m tests.servers start

stop-servers:
	$(PYTHON) -m tests.servers stop

lint:
	$(PYTHON) -m ruff check .

demo:
	scripts/demo
