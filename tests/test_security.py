"""Security properties of the package, checked directly. Points other tests already prove are
listed in docs/reliability.md ("Security") rather than repeated here:
payload size limit (test_dispatch.py::test_payload_size_limit), exception text capped
(test_inline_worker.py::test_unprintable_exception_and_huge_message_are_stored_capped,
chaos scenario 8), admin escaping (test_admin_pages.py::test_script_in_payload_and_exception_
is_escaped, chaos scenario 8), masking in the admin and ``failed_jobs show``
(test_admin_pages.py, test_masking.py), control characters in logs (test_logutil.py, chaos
scenario 8), permissions and CSRF (test_admin_permissions.py), and no import of names taken
from payloads inside a real worker (chaos scenario 7, with an audit hook).
"""

from __future__ import annotations

import ast
import json
import logging
import sys
from pathlib import Path

import pytest

from django_jobqueue import UnknownJobClass
from django_jobqueue.exceptions import PayloadError
from django_jobqueue.jobs import resolve
from django_jobqueue.testing import work
from django_jobqueue.transports import get_transport
from django_jobqueue.worker.execute import run_attempt
from django_jobqueue.worker.protocol import Run
from tests.chaos import jobs as chaos_jobs
from tests.support.settings_overrides import jobqueue

PACKAGE = Path(__file__).resolve().parent.parent / "django_jobqueue"
BANNED_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle",
                  "jsonpickle", "yaml"}
BANNED_CALLS = {"eval", "exec", "compile", "__import__"}
# Dotted-path imports are allowed only where the path comes from settings or the command
# line (transports, handlers, the new-fingerprint handler, its system check).
IMPORT_BY_NAME_ALLOWED = {"transports/__init__.py", "worker/handlers.py",
                          "failures/first_seen.py", "failures/stores.py",
                          "checks/plugins.py"}


def _sources():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(), str(path))


def test_no_pickle_eval_exec_or_marshal_anywhere_in_the_package():
    found = []
    for name, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(name, a.name) for a in node.names
                          if a.name.split(".")[0] in BANNED_MODULES]
            elif isinstance(node, ast.ImportFrom) and node.module:
                if node.module.split(".")[0] in BANNED_MODULES:
                    found.append((name, node.module))
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id in BANNED_CALLS):
                found.append((name, node.func.id))
    assert found == []


def test_names_are_imported_only_from_settings_never_from_payloads():
    users = set()
    for name, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if called in {"import_string", "import_module"}:
                    users.add(name)
    assert users <= IMPORT_BY_NAME_ALLOWED, users - IMPORT_BY_NAME_ALLOWED


@pytest.mark.parametrize("name", ["os.system", "builtins.eval", "tests.chaos.canary.Evil",
                                  "django_jobqueue.jobs.Job", "tests.chaos.jobs.Policy",
                                  "tests.chaos.jobs.mark", ""])
def test_job_classes_come_from_the_registry_only(name):
    before = set(sys.modules)
    with pytest.raises(UnknownJobClass):
        resolve(name)
    raw = json.dumps({"v": 1, "id": "x", "job": name, "data": {"args": ["id"], "kwargs": {}}})
    result, _ = run_attempt(Run("x", raw, 1, "", 30.0), [])
    assert result.status == "failed"
    assert result.failure.exception_class == "django_jobqueue.exceptions.UnknownJobClass"
    assert set(sys.modules) == before and "tests.chaos.canary" not in sys.modules


def _nested(depth):
    value = 0
    for _ in range(depth):
        value = [value]
    return value


def test_payload_depth_limit_at_dispatch():
    with jobqueue(DEFAULT_CONNECTION="memory"):
        chaos_jobs.Step(_nested(32)).dispatch(queue="depth")  # at the limit: fine
        get_transport("memory").clear("depth")
        with pytest.raises(PayloadError, match="MAX_PAYLOAD_DEPTH=32"):
            chaos_jobs.Step(_nested(33)).dispatch()
        with pytest.raises(PayloadError, match="MAX_PAYLOAD_DEPTH"):
            chaos_jobs.Step(options={"a": {"b": _nested(40)}}).dispatch()
        with jobqueue(DEFAULT_CONNECTION="memory", MAX_PAYLOAD_DEPTH=None), \
                pytest.raises(PayloadError, match="nested too deeply"):
            chaos_jobs.Step(_nested(100_000)).dispatch()  # no limit: still a clean error


def test_payload_too_deep_to_parse_fails_cleanly_in_the_worker():
    raw = '{"v": 1, "id": "x", "job": "tests.chaos.jobs.Step", "data": {"args": [' + "[" * 50_000
    result, _ = run_attempt(Run("x", raw, 1, "", 30.0), [])
    assert result.failure.exception_class == "django_jobqueue.exceptions.PayloadError"
    assert "nested too deeply" in result.failure.message


def test_secrets_in_arguments_never_reach_worker_logs(caplog, ledger, redis_client):
    get_transport("memory").clear("chaos")
    caplog.set_level(logging.DEBUG, logger="django_jobqueue")
    with jobqueue(DEFAULT_CONNECTION="memory", FAILED_STORE="redis"):
        chaos_jobs.Leaky(1, api_key="sk-live-SECRET", card_number="4111111111111111",
                         queue_name="chaos").dispatch(queue="chaos")
        assert work(["chaos"]).failed == 1
    assert "event=job_failed" in caplog.text
    assert "sk-live-SECRET" not in caplog.text and "4111111111111111" not in caplog.text
