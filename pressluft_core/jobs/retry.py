"""The one place that decides whether a failed attempt is tried again, and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pressluft_core.jobs.errors import ERROR_CODES


@dataclass(frozen=True)
class RetryDecision:
    retry: bool
    run_after: datetime | None


@dataclass(frozen=True)
class RetryStrategy:
    """Retry retryable codes after 1, 5, then 15 minutes, until ``max_attempts`` ran.

    ``attempt`` is the number of the attempt that just failed (1 for the first). A job
    whose worker died is not at fault, so it goes back to the queue at once.
    """

    delays_seconds: tuple[int, ...] = (60, 300, 900)
    immediate_codes: tuple[str, ...] = ("WORKER_LOST",)

    def decide(self, code: str, attempt: int, max_attempts: int, now: datetime) -> RetryDecision:
        if not ERROR_CODES[code].retryable or attempt >= max_attempts:
            return RetryDecision(retry=False, run_after=None)
        if code in self.immediate_codes:
            return RetryDecision(retry=True, run_after=now)
        delay = self.delays_seconds[min(attempt, len(self.delays_seconds)) - 1]
        return RetryDecision(retry=True, run_after=now + timedelta(seconds=delay))


DEFAULT_RETRY = RetryStrategy()
