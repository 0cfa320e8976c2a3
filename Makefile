# Thin aliases; scripts/test is the real entry point and works without make.
PYTHON ?= .venv/bin/python

.PHONY: test servers stop-servers lint demo bench bench-admin chaos chaos-report

test:
	scripts/test

servers:
	$(PYTHON) -m tests.support.servers start

# Both Django lines' servers (scripts/test starts a set per line; tests/support/servers/lines.py).
stop-servers:
	$(PYTHON) -m tests.support.servers --line 5.2 stop
	$(PYTHON) -m tests.support.servers --line 6 stop

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
	mkdir -p .chaos/tmp
	JQ_CHAOS=full PYTEST_DEBUG_TEMPROOT=$(CURDIR)/.chaos/tmp $(PYTHON) -m pytest tests/chaos \
		tests/test_security.py -q --timeout 3600 $(CHAOS_ARGS)
	$(PYTHON) -m tests.chaos.report

chaos-report:
	$(PYTHON) -m tests.chaos.report

# Ours against rq, celery, dramatiq, huey and django-tasks-db on the same servers
# (docs/performance.md). bench/run.py puts its servers on ports of their own (26379,
# 23306, 25432, 27100 unless JQ_*_PORT say otherwise); a clean clone first gets .venv and
# the Debian packages from scripts/test, on the same ports.
bench:
	@test -x $(PYTHON) || JQ_REDIS_PORT=$${JQ_REDIS_PORT:-26379} \
		JQ_MYSQL_PORT=$${JQ_MYSQL_PORT:-23306} JQ_PG_PORT=$${JQ_PG_PORT:-25432} \
		JQ_REDIS_CLUSTER_PORT=$${JQ_REDIS_CLUSTER_PORT:-27100} JQ_DJANGO_LINES=5.2 \
		scripts/test --collect-only -q
	$(PYTHON) bench/run.py $(BENCH_ARGS)
