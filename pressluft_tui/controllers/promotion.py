"""Drift checks and promotion.

``p`` on a staging or clone environment: a fresh drift check is queued and waited for (the
job polled in a thread worker, so it works whether this console or a worker daemon runs
it), then the promotion plan and the drift report are shown in one modal that asks — the
site slug typed when production drifted, ``y`` otherwise, nothing when the core blocks it.
Only then is the promotion queued, and its job is followed live.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.worker import get_current_worker

from pressluft_tui.context import ConsoleContext, in_worker
from pressluft_tui.controllers.base import Controller, Target
from pressluft_tui.screens.promote import PromoteScreen

POLL_SECONDS = 0.5
WAIT_SECONDS = 30 * 60  # a drift check of a large site takes minutes, not hours
ENDED = ("succeeded", "failed", "cancelled")


class Promotion(Controller):
    def __init__(self, ctx: ConsoleContext, open_jobs: Callable[[str, str], object]) -> None:
        super().__init__(ctx)
        self._open_jobs = open_jobs  # where a queued promotion is followed live

    @in_worker("action")
    def check_drift(self, site_id: str, env_id: str) -> None:
        job = self.core.promotion.drift(self.token, site_id, env_id)
        self.tell(f"drift check queued: {job.job_type} job {job.id[:8]} compares production "
                  "now with this environment's clone-time baseline (Drift tab)")

    def promote(self, site_id: str, env_id: str) -> None:
        self.with_target(site_id, env_id, self._start_promotion)

    def _start_promotion(self, target: Target) -> None:
        if target.production:  # the core would refuse too: say it before queueing anything
            self.refuse(f"{target.label} is production, what gets promoted to: open a "
                        "staging or clone environment and press p there")
            return
        self._check_then_plan(target)

    @in_worker("promote")
    def _check_then_plan(self, target: Target) -> None:
        token = self.token
        job = self.core.promotion.drift(token, target.site.id, target.env.id)
        self.tell(f"promoting {target.label}: first a drift check of production ({job.job_type}"
                  f" job {job.id[:8]}); the plan follows when it has ended")
        worker = get_current_worker()
        deadline = time.monotonic() + WAIT_SECONDS
        while job.status not in ENDED:
            if worker.is_cancelled:  # p pressed again, or the console quits
                return
            if time.monotonic() > deadline:
                self.tell(f"drift check {job.id[:8]} is still {job.status}: press p again "
                          "once it has ended (Jobs, j); nothing was promoted")
                return
            time.sleep(POLL_SECONDS)
            job = self.core.jobs.get(token, job.id)
        if job.status != "succeeded":
            self.tell(f"drift check {job.id[:8]} {job.status}: nothing was promoted (its log: "
                      "Jobs, j)")
            return
        plan = self.core.promotion.plan(token, target.site.id, target.env.id)
        self.ctx.call_from_thread(self.ask_promotion, target, plan)

    def ask_promotion(self, target: Target, plan: dict[str, Any]) -> None:
        """The plan in a modal; on confirmation the promotion is queued."""
        screen = PromoteScreen(target.site.slug, plan)

        def decided(confirmed: bool | None) -> None:
            if confirmed:
                self._promote(target, target.site.slug if screen.typed else None)

        self.ctx.push_screen(screen, decided)

    @in_worker("action")
    def _promote(self, target: Target, confirm: str | None) -> None:
        job = self.core.promotion.promote(self.token, target.site.id, target.env.id,
                                          confirm=confirm)
        self.tell(f"promoting {target.label} to production: {job.job_type} job {job.id[:8]} "
                  "queued; following it live")
        self.ctx.call_from_thread(self._open_jobs, target.site.id, job.id)
