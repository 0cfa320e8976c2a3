# Thin aliases; scripts/test is the real entry point and works without make.
PYTHON ?= .venv/bin/python

.PHONY: test servers stop-servers lint demo bench-admin

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

# The failed-job admin and prune at 1,000,000 rows on MariaDB (docs/performance.md).
bench-admin:
	$(PYTHON) bench/admin_at_scale.py $(BENCH_ARGS)
