"""Dispatch refuses a job class that workers would not know: one created after Django started
(in a view module, say), since a worker imports only what start-up imports."""

from __future__ import annotations

import pytest

from django_jobqueue import Job, UnknownJobClass
from django_jobqueue.transports import get_transport
from tests import jobs
from tests.support.settings_overrides import jobqueue

pytestmark = pytest.mark.django_db(transaction=True)


def _late_class(**attributes):
    # Created now, long after django.setup(): like a class in a view module.
    return type("ShopJob", (Job,), {"__module__": "tests.views", "handle": lambda self: None,
                                     **attributes})


def test_a_class_created_after_startup_is_refused_with_where_it_must_live():
    with pytest.raises(UnknownJobClass) as caught:
        _late_class()().dispatch(connection="default")
    message = str(caught.value)
    assert message.startswith("ShopJob is defined in tests.views, which is not an"
                              " autodiscovered jobs module")
    assert "move it to tests/jobs.py" in message and "discoverable = True" in message
    assert get_transport("default").size("default").total == 0


def test_a_class_outside_any_app_is_told_to_move_to_an_apps_jobs_module():
    cls = type("Loose", (Job,), {"__module__": "scripts.nightly"})
    with pytest.raises(UnknownJobClass, match=r"move it to an installed app's jobs\.py"):
        cls().dispatch(connection="default")


def test_classes_registered_at_startup_dispatch():
    # tests/jobs.py is autodiscovered; tests.chaos.jobs is imported by no jobs module.
    assert jobs.Record("x").dispatch(connection="default").job == "tests.jobs.Record"


def test_classes_that_a_jobs_module_imports_count_as_registered():
    # tests/jobs.py imports tests.jobs_elsewhere: its classes exist in every worker too.
    from tests.jobs_elsewhere import ImportedIntoJobs

    assert ImportedIntoJobs().dispatch(connection="default").job.endswith("ImportedIntoJobs")


def test_the_memory_transport_runs_jobs_in_this_process_so_anything_goes():
    with jobqueue(DEFAULT_CONNECTION="memory"):
        _late_class()().dispatch()
    get_transport("memory").clear("default")


def test_discoverable_true_opts_out():
    assert _late_class(discoverable=True)().dispatch(connection="default").job.endswith(
        "ShopJob")
