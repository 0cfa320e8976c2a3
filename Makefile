# Thin aliases; scripts/test is the real entry point and works without make.
PYTHON ?= .venv/bin/python

.PHONY: test servers stop-servers lint demo bench-admin chaos chaos-report

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

# The reliability suite at the issue's full sizes (docs/reliability.md), then its figures.
# CI runs the same scenarios at small sizes as part of `pytest`. Results: .chaos/results.jsonl.
chaos:
	JQ_CHAOS=full PYTEST_DEBUG_TEMPROOT=$(CURDIR)/.chaos/tmp $(PYTHON) -m pytest tests/chaos \
		tests/test_security.py -q --timeout 3600 $(CHAOS_ARGS)
	$(PYTHON) -m tests.chaos.report

chaos-report:
	$(PYTHON) -m tests.chaos.report
