"""Failed-job storage (``queue_failed_jobs`` and the Redis fallback) and its service."""
