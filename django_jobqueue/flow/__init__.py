"""Flow control: whether, and how fast, workers take jobs from a queue."""
