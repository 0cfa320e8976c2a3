"""Workflows: chains (jobs one after another) and batches (jobs side by side, with
callbacks), whose failures are as easy to find and handle as a single failed job.

- :func:`chain` / :class:`Chain`: see :mod:`.chain`;
- :func:`batch` / :class:`Batch`: see :mod:`.batch`;
- :func:`batch_status`: a batch's progress; :class:`BatchSummary`: what its callbacks get.
"""

from __future__ import annotations

from .batch import Batch, BatchDispatched, BatchRef, batch
from .chain import Chain, ChainDispatched, chain
from .status import BatchStatus, BatchSummary, batch_status

__all__ = ["Batch", "BatchDispatched", "BatchRef", "BatchStatus", "BatchSummary", "Chain",
           "ChainDispatched", "batch", "batch_status", "chain"]
