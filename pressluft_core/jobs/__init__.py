"""The job runner: queue, worker, handlers, logs and scheduler (DESIGN.md §4)."""
