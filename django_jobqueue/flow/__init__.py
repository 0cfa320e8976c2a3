"""Flow control: what decides whether and when a queued job runs (pauses, limits, cancel
requests, expiry) and what a running job reports (progress)."""
