"""The shop's background jobs: the scenarios of the "Failed Jobs" guide, in Django terms.

django_jobqueue imports every installed app's ``jobs`` module at startup, which registers
these classes: a worker only ever runs job classes registered this way.

Constructor arguments are the job's payload, stored as JSON: pass ids and plain values
(``datetime``, ``date``, ``time``, ``UUID`` and ``Decimal`` come back as themselves), never
model instances.

The outside world (an API, a report generator, a card processor) is simulated so that the
demo runs offline and ends the same way every time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import signal
import time

from django_jobqueue import DontRetry, ExponentialBackoff, Job
from shop import partners

logger = logging.getLogger(__name__)


class SendReceipt(Job):
    """Always succeeds: the everyday case."""

    queue = "emails"

    def __init__(self, order_id: int, email: str):
        self.order_id = order_id
        self.email = email

    def handle(self):
        logger.info("receipt for order %s sent to %s", self.order_id, self.email)


class CallExternalAPIJob(Job):
    """Scenario 1 of the guide: an API that is down for a while.

    Three attempts in all; the retries wait 1 s, then 2 s. The simulated API fails the first
    two attempts and answers the third, so this job ends up succeeding.
    """

    max_tries = 3
    retry_after = [1, 2]  # seconds before the 1st and 2nd retry (the last value repeats)

    def __init__(self, endpoint: str, data: dict):
        self.endpoint = endpoint
        self.data = data

    async def handle(self):
        # self.attempt is 1 on the first run, 2 on the first retry, ...
        await asyncio.sleep(0.1)  # the simulated request
        if self.attempt <= 2:
            raise ConnectionError(f"API {self.endpoint} unreachable (attempt {self.attempt})")
        logger.info("API %s answered on attempt %s", self.endpoint, self.attempt)

    async def failed(self, exception: BaseException):
        # Not called in the demo (the third attempt succeeds); it would be after the last one.
        logger.error(
            "API %s unreachable after %s tries: %s", self.endpoint, self.max_tries, exception
        )


class ProcessDataJob(Job):
    """Scenario 2: invalid data. Retrying cannot fix it, so there is one try only."""

    max_tries = 1

    def __init__(self, data: dict):
        self.data = data

    def validate_data(self) -> bool:
        rows = self.data.get("rows")
        return isinstance(rows, list) and all(isinstance(row, int) for row in rows)

    def handle(self):
        if not self.validate_data():
            raise ValueError("Invalid data format")
        logger.info("processed %s rows, total %s", len(self.data["rows"]), sum(self.data["rows"]))

    def failed(self, exception: BaseException):
        # Called once, after the failure is stored in queue_failed_jobs.
        logger.error("Invalid data: %s (%s)", self.data, exception)


class GenerateReportJob(Job):
    """Scenario 3: a resource that is never ready. Three tries with exponential backoff
    (0.5 s, then 1 s; never more than 2 s), then ``failed()`` tells the user."""

    queue = "reports"
    max_tries = 3
    retry_after = ExponentialBackoff(base=0.5, cap=2)

    def __init__(self, report_id: int, user_email: str):
        self.report_id = report_id
        self.user_email = user_email

    async def data_ready(self) -> bool:
        await asyncio.sleep(0.05)  # the simulated check
        return False

    async def handle(self):
        if not await self.data_ready():
            raise Exception("Data not ready")  # as in the guide; a real job would be specific

    async def failed(self, exception: BaseException):
        logger.warning(
            "Report %s data not ready; telling %s it is delayed", self.report_id, self.user_email
        )


class CardDeclined(Exception):
    """The payment provider refused the card: retrying gives the same answer."""


class ChargeCard(Job):
    """An unrecoverable error: ``dont_retry`` fails the job at once, whatever tries remain."""

    queue = "payments"
    max_tries = 5
    retry_after = 30
    dont_retry = (CardDeclined,)

    def __init__(self, order_id: int, amount: str):
        self.order_id = order_id
        self.amount = amount

    def handle(self):
        raise CardDeclined(f"card declined for order {self.order_id}: insufficient funds")

    def failed(self, exception: BaseException):
        logger.warning("order %s not paid: %s", self.order_id, exception)


class ExportOrdersJob(Job):
    """A timeout: the job blocks past its 1 s limit, on both of its tries.

    The limit holds for blocking code too (here ``time.sleep``): the attempt fails with
    ``django_jobqueue.JobTimeout`` and counts against ``max_tries`` like any other failure.
    """

    queue = "reports"
    timeout = 1
    max_tries = 2
    retry_after = 0

    def __init__(self, export_id: int):
        self.export_id = export_id

    def handle(self):
        time.sleep(5)  # the simulated export hangs


class SyncStockJob(Job):
    """``retry_after`` as one number: a warehouse that times out once, then answers.

    Also a unique job (docs/unique-jobs.md): one sync per warehouse at a time. While one is
    queued, running or waiting to retry, dispatching another for the same warehouse queues
    nothing and returns ``duplicate=True`` with the id of the one already there.
    """

    max_tries = 2
    retry_after = 0.5  # seconds before every retry
    unique_for = 300  # the lock never outlives this, whatever happens to the job

    def __init__(self, warehouse: str):
        self.warehouse = warehouse

    def unique_key(self) -> str:
        # The default key is the class and its arguments as passed: SyncStockJob("north")
        # and SyncStockJob(warehouse="north") would be two keys. One key per warehouse.
        return f"stock-sync:{self.warehouse}"

    def handle(self):
        if self.attempt == 1:
            raise TimeoutError(f"warehouse {self.warehouse} did not answer in time")
        logger.info("stock of warehouse %s synced on attempt %s", self.warehouse, self.attempt)


class ShipOrder(Job):
    """``DontRetry``: the job itself decides that retrying is pointless, whatever its
    ``max_tries`` says. Raise it ``from`` the real error so the traceback keeps both."""

    max_tries = 3
    retry_after = 10

    ADDRESSES = {1001: "12 Analytical Row, London"}

    def __init__(self, order_id: int):
        self.order_id = order_id

    def handle(self):
        try:
            address = self.ADDRESSES[self.order_id]
        except KeyError as exc:
            raise DontRetry(f"order {self.order_id} has no shipping address") from exc
        logger.info("order %s shipped to %s", self.order_id, address)


class ResizeImagesJob(Job):
    """A killed work horse: the job takes its process down, as the kernel's OOM killer or
    a ``kill -9`` would. The worker survives, calls WORK_HORSE_KILLED_HANDLER and records a
    ``WorkHorseKilled`` failure with the exit signal and the horse's peak memory."""

    queue = "reports"

    def __init__(self, product_id: int):
        self.product_id = product_id

    def handle(self):
        os.kill(os.getpid(), signal.SIGKILL)  # the simulated out-of-memory kill


class ReleaseExpiredCarts(Job):
    """A periodic job (docs/periodic-jobs.md): every minute, give back the stock held by
    carts abandoned for half an hour. Every ``runworker`` (without ``--burst``) fires it,
    each minute once in all, however many workers run; no beat process, no system cron.

    It is unique too: should a run take longer than a minute, the next minute's slot passes
    (logged ``schedule_skipped``) instead of starting a second run beside it.
    """

    schedule = "* * * * *"  # a cron expression, in TIME_ZONE; or seconds, or a timedelta
    schedule_missed = "skip"  # after downtime, skip the missed minutes (default: "once")
    unique_for = 300

    def handle(self):
        released = 0  # the simulated shop has no carts to release
        logger.info("released the stock of %s expired carts", released)


class SyncShopCatalog(Job):
    """A concurrency limit (docs/flow-control.md): one catalog sync per shop at a time, on
    every worker and host. The shop platform refuses a second API session for a shop while
    one is open (``partners.shop_session``); the limit makes sure none is ever tried.

    Unlike a unique job (``SyncStockJob``), a second sync of the same shop is queued: it
    waits in its queue, delayed, without using an attempt, until the first one ends, while
    syncs of other shops run beside it.
    """

    concurrency_limit = 1

    def __init__(self, shop: str):
        self.shop = shop

    def concurrency_key(self) -> str:
        # Default: the class, one sync at a time in all. Per shop instead.
        return f"shop-sync:{self.shop}"

    def handle(self):
        with partners.shop_session(self.shop):
            time.sleep(0.3)  # the simulated sync
        logger.info("catalog of shop %s synced", self.shop)


class PublishListing(Job):
    """A rate limit: the marketplace answers 429 beyond 5 calls a second
    (``partners.marketplace_call``), so listings are published at most 4 a second, counted
    across every worker. Jobs over the limit wait, delayed, without using an attempt."""

    rate_limit = "4/s"

    def __init__(self, marketplace: str, sku: str):
        self.marketplace = marketplace
        self.sku = sku

    def rate_key(self) -> str:
        # Default: the class. Each marketplace has a budget of its own.
        return f"marketplace:{self.marketplace}"

    def handle(self):
        partners.marketplace_call(self.marketplace, self.sku)
        logger.info("listing %s published on %s", self.sku, self.marketplace)


class FlashSaleReminder(Job):
    """Expiry: a reminder that arrives after the sale ended is worse than none. A reminder
    not started within 15 minutes of being due never runs: it is kept as expired
    (``JobExpired``), not failed. ``dispatch(expires_at=...)`` gives one reminder the sale's
    own end instead."""

    queue = "emails"
    expires_after = dt.timedelta(minutes=15)

    def __init__(self, sale_id: int, email: str):
        self.sale_id = sale_id
        self.email = email

    def handle(self):
        logger.info("flash sale %s reminder sent to %s", self.sale_id, self.email)


class ImportProductsJob(Job):
    """Progress and cancelling: a long import that reports how far it got
    (``manage.py job_status ID``) and stops when an operator cancels it
    (``manage.py cancel_jobs ID``): ``check_cancelled()`` ends it as cancelled, not failed.
    """

    queue = "imports"
    timeout = 3600
    CHUNK = 500  # rows per step: one progress report each (each report is one store write)

    def __init__(self, feed: str, rows: int):
        self.feed = feed
        self.rows = rows

    def handle(self):
        done = 0
        while done < self.rows:
            if self.cancel_requested:
                logger.info("import of feed %s cancelled after %s of %s rows",
                            self.feed, done, self.rows)
                self.check_cancelled()  # raises JobCancelled
            time.sleep(0.1)  # the simulated import of one chunk
            done = min(done + self.CHUNK, self.rows)
            self.set_progress(done, self.rows, "rows imported")
        logger.info("feed %s imported: %s rows", self.feed, self.rows)


class PageOnCall(Job):
    """Dispatched by ``shop.handlers.new_kind_of_failure``, once per new kind of failure:
    where a real shop would post to its chat or send an e-mail."""

    def __init__(self, job_class: str, exception_class: str, fingerprint: str):
        self.job_class = job_class
        self.exception_class = exception_class
        self.fingerprint = fingerprint

    def handle(self):
        logger.info(
            "on-call paged: new kind of failure: job=%s error=%s fingerprint=%s",
            self.job_class,
            self.exception_class,
            self.fingerprint[:12],
        )


# -- workflows (docs/workflows.md) -------------------------------------------------------------
class OrderStepSkipped(Exception):
    """A step of the order chain ran before the step it needs: the chain would prevent it."""


class ChargeOrder(Job):
    """Step 1 of an order (``shop.scenarios.dispatch_workflows``): charge the card. Its
    success queues step 2; had it failed for good, steps 2 and 3 would be held in its
    failed-job record until it is retried."""

    queue = "payments"

    def __init__(self, order_id: int, amount: str):
        self.order_id = order_id
        self.amount = amount

    def handle(self):
        partners.record_order_event(self.order_id, "charged")
        logger.info("order %s: %s charged", self.order_id, self.amount)


class ReserveStock(Job):
    """Step 2: reserve the stock, only for an order that was paid. The warehouse times out
    once (the step retries, and step 3 waits for it)."""

    max_tries = 2
    retry_after = 0.5

    def __init__(self, order_id: int, skus: list):
        self.order_id = order_id
        self.skus = skus

    def handle(self):
        if partners.order_events(self.order_id) != ["charged"]:
            raise OrderStepSkipped(f"order {self.order_id} is not paid: no stock reserved")
        if self.attempt == 1:
            raise TimeoutError("the warehouse did not answer in time")
        partners.record_order_event(self.order_id, "stock reserved")
        logger.info("order %s: stock reserved for %s", self.order_id, ", ".join(self.skus))


class SendOrderConfirmation(Job):
    """Step 3: the confirmation e-mail, only once the order is paid and its stock reserved."""

    queue = "emails"

    def __init__(self, order_id: int, email: str):
        self.order_id = order_id
        self.email = email

    def handle(self):
        if partners.order_events(self.order_id) != ["charged", "stock reserved"]:
            raise OrderStepSkipped(f"order {self.order_id} is not ready to confirm")
        partners.record_order_event(self.order_id, "confirmation sent")
        logger.info("order %s: confirmation sent to %s", self.order_id, self.email)


class MissingPrice(Exception):
    """The supplier's feed has the product without a price."""


class UnknownProduct(LookupError):
    """The supplier does not know the product (any more)."""


class SyncProduct(Job):
    """A child of the nightly catalogue sync (a batch): one product from the supplier. Two
    products of the simulated feed are broken, in two ways; retrying cannot fix either."""

    max_tries = 3
    retry_after = 1
    dont_retry = (MissingPrice, UnknownProduct)

    NO_PRICE = {"SKU-107"}   # in the supplier's feed, without a price
    UNKNOWN = {"SKU-108"}    # not in the feed at all

    def __init__(self, sku: str):
        self.sku = sku

    def handle(self):
        if self.sku in self.UNKNOWN:
            raise UnknownProduct(f"{self.sku}: the supplier does not know this product")
        if self.sku in self.NO_PRICE:
            raise MissingPrice(f"{self.sku}: the supplier sent no price")
        logger.info("product %s synced", self.sku)


class CatalogueSyncReport(Job):
    """A callback of the catalogue sync: posts how the batch ended to the merchandising
    team. Its ``batch_summary`` is the batch's counts when it was queued."""

    def handle(self):
        summary = self.batch_summary
        partners.tell_merchandising({
            "callback": summary.callback, "batch": summary.id, "name": summary.name,
            "total": summary.total, "succeeded": summary.succeeded, "failed": summary.failed,
            "cancelled": summary.cancelled, "failed_ids": list(summary.failed_ids),
        })
        logger.info("%s %s: %s of %s products synced, %s failed (%s)", summary.name,
                    summary.callback, summary.succeeded, summary.total, summary.failed,
                    ", ".join(one[:8] for one in summary.failed_ids) or "none")
