"""Malformed payloads for scenario 7, pushed straight into a transport (as a foreign producer
or someone with write access to the store would), bypassing ``dispatch``'s checks.

Every kind is one that a worker must turn into a failed row with a clear error class
(``PayloadError`` or ``UnknownJobClass``) without crashing, looping or importing anything.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

STEP = "tests.chaos.jobs.Step"
STRICT = "tests.jobs.Record"  # __init__(self, value, note=None): arity and names are checked
# Names a payload may give that an unsafe worker would import (and call): none may load.
CANARY_MODULES = ("tests.chaos.canary", "this", "smtplib", "ftplib", "imaplib", "http.server",
                  "xmlrpc.server", "pydoc", "antigravity")
IMPORTABLE_NAMES = ["os.system", "subprocess.call", "builtins.eval", "builtins.exec",
                    "tests.chaos.canary.Evil", "this.Zen", "smtplib.SMTP", "ftplib.FTP",
                    "imaplib.IMAP4", "http.server.HTTPServer", "xmlrpc.server.SimpleXMLRPCServer",
                    "pydoc.pager", "antigravity.geohash", "django.core.management.call_command",
                    "importlib.import_module", "pickle.loads"]
NOT_JOBS = ["django_jobqueue.jobs.Job", "tests.chaos.jobs.Policy", "tests.chaos.jobs.mark",
            "tests.chaos.jobs.record_error", "tests.jobs.UnprintableError", "django_jobqueue"]
# Policy fields dispatch never writes. "INF" becomes the JSON literal 1e400 (infinity).
BAD_POLICIES = [{"max_tries": "abc"}, {"timeout": "abc"}, {"timeout": -5}, {"max_tries": 0},
                {"max_tries": 1e300}, {"timeout": "INF"}, {"retry_after": "soon"},
                {"retry_after": {"backoff": "exponential", "base": "nan"}},
                {"max_tries": 3, "retry_after": ["INF"]}]
CLEAR_ERRORS = {"django_jobqueue.exceptions.PayloadError",
                "django_jobqueue.exceptions.UnknownJobClass"}


def hypothesis_json(count: int, seed: int) -> list[Any]:
    """``count`` arbitrary JSON documents drawn by Hypothesis (some shaped like payloads)."""
    leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False,
                                                                   allow_infinity=False) | st.text()
    values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
    shaped = st.fixed_dictionaries({"job": st.text(max_size=30) | st.integers() | st.none(),
                                    "data": values})
    drawn: list[Any] = []

    @settings(max_examples=count, database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(values, shaped))
    def collect(value: Any) -> None:
        drawn.append(value)

    collect()
    random.Random(seed).shuffle(drawn)
    return drawn[:count]


def _payload(job: Any, data: Any = None, **extra: Any) -> str:
    body = {"v": 1, "id": "x", "job": job, "data": {"args": [], "kwargs": {}} if data is None
            else data, "queue": "chaos", "max_tries": 1, "timeout": 10, **extra}
    return json.dumps(body)


def kinds(marker: str, big: int, raw_bytes: bool) -> list[tuple[str, Callable[[random.Random],
                                                                            Any]]]:
    """(kind, maker) pairs; ``big`` is the size of the huge argument, ``raw_bytes`` whether the
    store can hold bytes that are not UTF-8 (Redis can; MariaDB's utf8mb4 column cannot)."""
    valid = _payload(STEP, {"args": [1], "kwargs": {}})
    out: list[tuple[str, Callable[[random.Random], Any]]] = [
        ("truncated-json", lambda r: valid[: r.randrange(1, len(valid) - 1)]),
        ("import-name", lambda r: _payload(r.choice(IMPORTABLE_NAMES),
                                           {"args": [f"touch {marker}"], "kwargs": {}})),
        ("unknown-class", lambda r: _payload(r.choice(["shop.jobs.Gone", "", " ", "a" * 300,
                                                       "tests.chaos.jobs.Nope"]))),
        ("non-str-name", lambda r: _payload(r.choice([None, 1, [STEP], {"x": STEP}, True]))),
        ("not-a-job", lambda r: _payload(r.choice(NOT_JOBS))),
        ("wrong-arg-types", lambda r: _payload(STRICT, r.choice([
            {"args": {"value": 1}}, {"kwargs": [1, 2]}, "args", [1], {"args": [1, 2, 3, 4]},
            {"args": [], "kwargs": {}}, {"args": [1], "kwargs": {"value": 2}},
            {"args": [], "kwargs": {"value": 1, "zz": []}},
        ]))),
        ("bad-policy", lambda r: _payload(STEP, {"args": [1], "kwargs": {"fail": True}}, **r.choice(
            BAD_POLICIES)).replace('"INF"', "1e400")),
        ("deep-nesting", lambda r: _deep(r.choice([2000, 100_000]), closed=r.random() < 0.5)),
        ("big-arguments", lambda r: _payload(STEP, {"args": ["x" * big, 2, 3]})),
        ("surrogate-name", lambda r: _payload(r.choice(["\udcff", "shop.\ud800jobs"]))),
        ("random-text", lambda r: "".join(chr(r.randrange(0, 0x2FFF)) for _ in range(r.randrange(
            1, 200)))),
    ]
    if raw_bytes:
        out += [
            ("random-bytes", lambda r: r.randbytes(r.randrange(1, 300))),
            ("invalid-utf8", lambda r: valid.encode().replace(b"[1]", b'["\xff\xfe\xc3\x28"]')),
        ]
    return out


def _deep(depth: int, closed: bool) -> str:
    """A payload whose argument is a list nested ``depth`` deep (cut off if not ``closed``)."""
    head = '{"v": 1, "id": "x", "job": "' + STEP + '", "data": {"args": ['
    return head + "[" * depth + ("]" * depth + "]}}" if closed else "")
