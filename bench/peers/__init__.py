"""One module per peer system, run from the peers' own virtualenv (``.venv-bench-peers``).

Each module is both the peer's job module (its workers import the job functions from it)
and the adapter that ``bench/driver.py`` drives: ``reset``, ``enqueue``, ``fill``,
``workers`` and ``failed_count``, as described in ``bench/driver.py``.
"""
