"""Tables: ``queue_jobs`` and ``queue_workers`` (the database transport's jobs and worker
registry), ``queue_coordination`` (locks and values shared by workers),
``queue_coordination_permits`` (their permits: concurrency and rate limits),
``queue_coordination_tallies`` and ``queue_coordination_tally_members`` (their tallies: the
members of a workflow and how each ended),
``queue_failed_jobs`` (failed jobs) and ``queue_task_results`` (results of Django
Tasks run through django-jobqueue). ``Schedule`` and ``QueueControl`` have no table: they
carry the admin's Schedules page and its permissions, and the permissions of the Queues
page's buttons.

``queue_failed_jobs`` keeps the columns of the seed guide (``id, connection, queue, payload,
exception, failed_at`` with an index on ``queue``) so its SQL runs unchanged, and adds what
makes failures searchable: job uuid (unique), job class, exception class, attempts, every
attempt's error, for killed work horses the exit status and peak memory, and a fingerprint
that groups failures of one kind. ``queue_failed_fingerprints`` remembers which fingerprints
were seen already (for ``NEW_FINGERPRINT_HANDLER``).
"""

from __future__ import annotations

from django.db import models


class QueuedJob(models.Model):
    """A job waiting, delayed or running, stored by the database transport.

    Times are epoch seconds taken from the database's own clock, so workers on machines with
    skewed clocks agree on leases and due times.
    """

    uuid = models.CharField(max_length=32, unique=True)
    queue = models.CharField(max_length=255)
    payload = models.TextField()
    attempts = models.PositiveIntegerField(default=0)
    priority = models.SmallIntegerField(default=0)
    available_at = models.FloatField()
    reserved_until = models.FloatField(null=True, blank=True)
    reserved_by = models.CharField(max_length=64, null=True, blank=True)
    # False while a reserved job waits in a worker's prefetch buffer: if that worker dies,
    # the job goes back to the queue without losing an attempt.
    started = models.BooleanField(default=False, db_default=False)
    created_at = models.FloatField()

    class Meta:
        db_table = "queue_jobs"
        verbose_name = "queued job"
        verbose_name_plural = "queued jobs"
        indexes = [
            # Serves both the claim (reserved_until IS NULL) and collection (< now).
            models.Index(
                fields=["queue", "reserved_until", "-priority", "available_at"],
                name="queue_jobs_claim_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.queue}:{self.uuid}"


class QueueWorker(models.Model):
    """A live worker in the database transport's worker registry (one row per supervisor).

    Written by the worker at start and on each heartbeat, deleted on a clean exit; a row
    past ``expires_at`` belongs to a worker that died and is deleted by any worker's
    maintenance. Times are epoch seconds from the database's clock; ``info`` is the JSON of
    :class:`django_jobqueue.transports.WorkerInfo`.
    """

    connection = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    info = models.TextField()
    last_heartbeat = models.FloatField()
    expires_at = models.FloatField()

    class Meta:
        db_table = "queue_workers"
        verbose_name = "queue worker"
        verbose_name_plural = "queue workers"
        constraints = [
            models.UniqueConstraint(fields=["connection", "name"], name="queue_workers_name_uniq"),
        ]
        indexes = [
            # Listing live workers and deleting dead ones both filter by expiry.
            models.Index(fields=["connection", "expires_at"], name="queue_workers_expiry_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.connection}:{self.name}"


class CoordinationValue(models.Model):
    """A lock or a durable value of the coordination primitives
    (:mod:`django_jobqueue.coordination`): unique jobs' locks, schedule cursors, flags.

    One row per (connection, scope, name). A lock has ``expires_at`` (epoch seconds, the
    database's clock) and is free once that has passed; a durable value has none.
    """

    connection = models.CharField(max_length=100)
    scope = models.CharField(max_length=190)
    name = models.CharField(max_length=190)
    value = models.TextField()
    expires_at = models.FloatField(null=True, blank=True)

    class Meta:
        db_table = "queue_coordination"
        verbose_name = "coordination value"
        verbose_name_plural = "coordination values"
        constraints = [
            models.UniqueConstraint(fields=["connection", "scope", "name"],
                                    name="queue_coordination_key_uniq"),
        ]
        indexes = [
            models.Index(fields=["connection", "expires_at"], name="queue_coord_expiry_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.connection}:{self.scope}:{self.name}"


class CoordinationPermit(models.Model):
    """A held permit of the coordination primitives (:class:`~django_jobqueue.coordination.
    Permit`): one of at most a limit of holders of ``name`` in ``scope``.

    One row per (connection, scope, name, holder), live until ``expires_at`` (epoch seconds,
    the database's clock); expired rows are deleted by maintenance. Admissions to one name
    take turns on its header row in ``queue_coordination``.
    """

    connection = models.CharField(max_length=100)
    scope = models.CharField(max_length=190)
    name = models.CharField(max_length=190)
    holder = models.CharField(max_length=190)
    expires_at = models.FloatField()

    class Meta:
        db_table = "queue_coordination_permits"
        verbose_name = "coordination permit"
        verbose_name_plural = "coordination permits"
        constraints = [
            models.UniqueConstraint(fields=["connection", "scope", "name", "holder"],
                                    name="queue_permit_key_uniq"),
        ]
        indexes = [
            # The live holders of a name, counted at every admission.
            models.Index(fields=["connection", "scope", "name", "expires_at"],
                         name="queue_permit_live_idx"),
            models.Index(fields=["connection", "expires_at"], name="queue_permit_expiry_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.connection}:{self.scope}:{self.name}:{self.holder}"


class CoordinationTally(models.Model):
    """A tally of the coordination primitives (:mod:`django_jobqueue.coordination.tallies`):
    how many members tally ``name`` in ``scope`` has, and how many ended each way.

    The counts are kept here so that reading a tally is one query; its members are in
    :class:`CoordinationTallyMember`. Every call that changes a tally locks this row first,
    so calls on one tally take turns. It lives until ``expires_at`` (epoch seconds, the
    database's clock), then reads as missing and is deleted, with its members, by
    maintenance.
    """

    connection = models.CharField(max_length=100)
    scope = models.CharField(max_length=190)
    name = models.CharField(max_length=190)
    total = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)
    expires_at = models.FloatField()

    class Meta:
        db_table = "queue_coordination_tallies"
        verbose_name = "coordination tally"
        verbose_name_plural = "coordination tallies"
        constraints = [
            models.UniqueConstraint(fields=["connection", "scope", "name"],
                                    name="queue_tally_key_uniq"),
        ]
        indexes = [
            models.Index(fields=["connection", "expires_at"], name="queue_tally_expiry_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.connection}:{self.scope}:{self.name}"


class CoordinationTallyMember(models.Model):
    """A member of a :class:`CoordinationTally` and its state: ``pending``, ``succeeded``,
    ``failed`` or ``cancelled``. Changed only under its tally's row lock."""

    connection = models.CharField(max_length=100)
    scope = models.CharField(max_length=190)
    name = models.CharField(max_length=190)
    member = models.CharField(max_length=190)
    state = models.CharField(max_length=16)

    class Meta:
        db_table = "queue_coordination_tally_members"
        verbose_name = "coordination tally member"
        verbose_name_plural = "coordination tally members"
        constraints = [
            models.UniqueConstraint(fields=["connection", "scope", "name", "member"],
                                    name="queue_tally_member_uniq"),
        ]
        indexes = [
            # A tally's members in one state, in member order (a page of its failed ones).
            # The state comes first: starting with the tally's key, it covered a count's
            # read of its members' states, and SQLite read a whole tally through it rather
            # than probe the unique key once per member counted.
            models.Index(fields=["state", "connection", "scope", "name", "member"],
                         name="queue_tally_state_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.connection}:{self.scope}:{self.name}:{self.member}"


class FailedJob(models.Model):
    """A job that failed for good."""

    connection = models.CharField(max_length=255)
    queue = models.CharField(max_length=255, db_index=True)
    payload = models.TextField()
    exception = models.TextField()
    failed_at = models.DateTimeField(db_index=True)
    uuid = models.CharField("job id", max_length=32, unique=True)
    job_class = models.CharField(max_length=255)
    exception_class = models.CharField(max_length=255)
    message = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    worker = models.CharField(max_length=255, blank=True, default="")
    exit_code = models.IntegerField(null=True, blank=True)
    term_signal = models.IntegerField(null=True, blank=True)
    max_rss_kb = models.BigIntegerField(null=True, blank=True)
    fingerprint = models.CharField(
        max_length=40, blank=True, default="",
        help_text="Groups failures of one kind: exception class, normalised message and the"
        " innermost application frame.",
    )

    class Meta:
        db_table = "queue_failed_jobs"
        verbose_name = "failed job"
        verbose_name_plural = "failed jobs"
        ordering = ["-failed_at", "-id"]
        permissions = [
            ("retry_failedjob", "Can retry failed jobs"),
            ("purge_failedjob", "Can purge old failed jobs"),
            ("view_raw_payload_failedjob", "Can view unmasked failed-job payloads"),
        ]
        indexes = [
            models.Index(fields=["queue", "failed_at"], name="qfj_queue_failed_idx"),
            models.Index(fields=["job_class", "failed_at"], name="qfj_class_failed_idx"),
            models.Index(fields=["exception_class", "failed_at"], name="qfj_exc_failed_idx"),
            models.Index(fields=["connection", "failed_at"], name="qfj_conn_failed_idx"),
            models.Index(fields=["fingerprint", "failed_at"], name="qfj_fp_failed_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.job_class} on {self.queue}: {self.exception_class}"


class Schedule(models.Model):
    """A schedule entry, for the admin only: no table (``managed = False``; nothing reads
    or writes one). Entries are declared in settings and on job classes and their state
    kept in the store (:mod:`django_jobqueue.schedule`); this model gives the admin's
    Schedules page its place in the app and its permissions a content type: viewing the
    page, enabling and disabling entries (``change_schedule``), running one now
    (``run_schedule``)."""

    name = models.CharField(max_length=255, primary_key=True)

    class Meta:
        managed = False
        db_table = "queue_schedule"
        verbose_name = "schedule"
        verbose_name_plural = "schedules"
        # No add or delete: entries are declared in code. "change" is declared below to
        # say what it gives.
        default_permissions = ("view",)
        permissions = [
            ("change_schedule", "Can enable and disable schedule entries"),
            ("run_schedule", "Can run schedule entries now"),
        ]

    def __str__(self) -> str:
        return self.name


class QueueControl(models.Model):
    """A queue of a connection, for the admin only: no table (``managed = False``; nothing
    reads or writes one). Pauses live in the connection's store
    (:mod:`django_jobqueue.flow.pause`); this model gives the Queues page's buttons their
    permissions a content type (pausing and resuming queues: ``pause_queue``; cancelling
    jobs: ``cancel_job``) and their admin log entries an object: ``<connection>:<queue>``.
    The batch page's buttons have theirs here too (``retry_batch_children``,
    ``cancel_batch``), their log entries about ``batch:<id>``.

    The Queues page itself stays under ``view_failedjob``: no view permission here."""

    name = models.CharField(max_length=255, primary_key=True)

    class Meta:
        managed = False
        db_table = "queue_control"
        verbose_name = "queue control"
        verbose_name_plural = "queue controls"
        default_permissions = ()
        permissions = [
            ("pause_queue", "Can pause and resume queues"),
            ("cancel_job", "Can cancel queued and running jobs"),
            ("retry_batch_children", "Can retry the failed jobs of a batch"),
            ("cancel_batch", "Can cancel the rest of a batch"),
        ]

    def __str__(self) -> str:
        return self.name


class FailureFingerprint(models.Model):
    """A fingerprint seen at least once: the unique row that makes "first seen" race-free."""

    fingerprint = models.CharField(max_length=40, unique=True)
    exception_class = models.CharField(max_length=255)
    first_seen_at = models.DateTimeField()
    first_job_uuid = models.CharField("first job id", max_length=32)

    class Meta:
        db_table = "queue_failed_fingerprints"
        verbose_name = "failure fingerprint"
        verbose_name_plural = "failure fingerprints"

    def __str__(self) -> str:
        return f"{self.fingerprint[:12]} {self.exception_class}"


class TaskResultRecord(models.Model):
    """The result of a Django Tasks task run by django-jobqueue (``queue_task_results``).

    ``id`` is the ``TaskResult`` id, which is also the id of the job that first ran it.
    Written at enqueue (READY) and by the work horse at each attempt's start and end; pruned
    by ``manage.py prune_task_results``.
    """

    class Status(models.TextChoices):
        # The same values as django.tasks.TaskResultStatus, declared here so that this
        # module does not import the Tasks framework.
        READY = "READY", "Ready"
        RUNNING = "RUNNING", "Running"
        FAILED = "FAILED", "Failed"
        SUCCESSFUL = "SUCCESSFUL", "Successful"

    id = models.CharField("result id", max_length=64, primary_key=True)
    backend = models.CharField(max_length=255)
    task_path = models.CharField(max_length=255)
    queue = models.CharField(max_length=255)
    priority = models.SmallIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.READY)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    run_after = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_attempted_at = models.DateTimeField(null=True, blank=True)
    return_value = models.JSONField(null=True, blank=True)
    errors = models.JSONField(default=list, blank=True)
    worker_ids = models.JSONField(default=list, blank=True)

    class Meta:
        db_table = "queue_task_results"
        verbose_name = "task result"
        verbose_name_plural = "task results"
        indexes = [
            # Pruning deletes finished results by age.
            models.Index(fields=["finished_at"], name="qtr_finished_idx"),
            models.Index(fields=["task_path", "status"], name="qtr_task_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.task_path} {self.id}: {self.status}"
