"""Benchmarks, each runnable as ``python -m bench <name> [--json] [args]``.

A benchmark is a module ``bench/<name>.py`` with ``main(argv) -> int``. It prints its figures
and, with ``--json``, one JSON object on the last line. Benchmarks compare side by side in the
same run (ratios against a baseline measured alongside), never against a fixed time, so the
figures mean the same on a fast laptop and a busy CI box. Modules whose name starts with
``_`` are helpers, not benchmarks.
"""
