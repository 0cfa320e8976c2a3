"""The worker: a supervisor process and its work horses."""
