"""A batch's cancel request, as a worker's gate sees it: the children it holds are
cancelled when it reads the request, and children it takes later never start."""

from __future__ import annotations

import json
import time

import pytest

from django_jobqueue.flow.names import FLOW_SCOPE
from django_jobqueue.transports import get_transport
from django_jobqueue.worker.claim import Claim
from django_jobqueue.worker.gate import Gate, batches_of
from django_jobqueue.worker.outcomes import Outcomes
from django_jobqueue.workflows import batch
from django_jobqueue.workflows.marks import cancel_name
from tests import jobs

pytestmark = [pytest.mark.django_db(transaction=True, databases=["default", "mysql", "postgres"])]

CONNECTIONS = [pytest.param("default", id="sqlite"), pytest.param("redis", id="redis")]


@pytest.mark.parametrize("conn", CONNECTIONS)
def test_a_batch_cancel_request_stops_held_children_and_later_ones(conn, empty_queues):
    transport = get_transport(conn)
    sent = batch([jobs.Step(str(n)) for n in range(3)]).dispatch(connection=conn)
    other = jobs.Step("outside").dispatch(connection=conn)
    claims = [Claim.of(job, 30) for job in transport.reserve(["default"], 4, 30, "t")]
    held, later = [c for c in claims if c.id != sent.jobs[2].id], claims
    gate = Gate(transport, "w", Outcomes())
    gate.poll(["default"], [c.id for c in held], 1.0, batches=batches_of(held))
    assert not any(gate.cancelled(c.id, c.document) for c in held)
    transport.coordination.write(FLOW_SCOPE, cancel_name(sent.id),
                                 json.dumps({"at": time.time(), "by": "ops"}), ttl=60)
    gate.poll(["default"], [c.id for c in held], 2.0, batches=batches_of(held))
    children = {job.id for job in sent.jobs}
    for claim in held:
        assert gate.cancelled(claim.id, claim.document) == (claim.id in children)
    assert gate.cancels[sent.jobs[0].id] == "ops"
    # A child taken after the worker saw the request never starts either.
    [late] = [c for c in later if c.id == sent.jobs[2].id]
    assert gate.cancelled(late.id, late.document)
    assert not gate.cancelled(other.id, next(c for c in claims if c.id == other.id).document)
