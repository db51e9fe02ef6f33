"""Jobs: every job, live, filterable (``/``), with the selected job's log streaming below
and its error as a sentence the operator can act on."""

from __future__ import annotations

from functools import partial

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Footer, Header, Static

from pressluft_core.jobs.logs import log_path
from pressluft_core.records import JobRecord
from pressluft_tui import render
from pressluft_tui.actions import bindings
from pressluft_tui.context import Selection
from pressluft_tui.screens.base import ResourceScreen
from pressluft_tui.widgets.job_log import JobLogView
from pressluft_tui.widgets.resource_table import ResourceTable

COLUMNS = ("Job", "Type", "Site", "Status", "Progress", "Try", "Created")
JobsData = tuple[list[JobRecord], dict[str, str]]
LIST_LIMIT = 500


class JobsScreen(ResourceScreen[JobsData]):
    BINDINGS = [
        *bindings("jobs"),
        Binding("l", "focus_log", "Log", id="jobs.log"),
        Binding("t", "focus_table", "Table", id="jobs.table", show=False),
    ]

    def __init__(self, site_id: str | None = None, job_id: str | None = None) -> None:
        super().__init__()
        self.site_id = site_id
        self.initial_job_id = job_id
        self._jobs: dict[str, JobRecord] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="jobs-split"):
            yield ResourceTable(COLUMNS, "No jobs yet: creating a site, a clone or a "
                                         "backup queues one.", id="jobs-table")
            yield Static(id="job-detail", classes="summary")
            yield JobLogView(id="job-log")
        yield Footer()

    def fetch(self) -> JobsData:
        jobs = self.core.jobs.list(self.token, site_id=self.site_id, limit=LIST_LIMIT)
        return jobs, self.core.overview.site_slugs(self.token)

    def present(self, data: JobsData) -> None:
        jobs, slugs = data
        self._jobs = {job.id: job for job in jobs}
        scope = f"site {slugs.get(self.site_id, '?')}" if self.site_id else "all sites"
        self.sub_title = f"jobs · {scope} · {len(jobs)} shown"
        table = self.query_one(ResourceTable)
        table.set_rows([(job.id, partial(self._cells, job, slugs)) for job in jobs])
        if self.initial_job_id and self.initial_job_id in self._jobs:
            keys = [job.id for job in jobs]
            table.table.move_cursor(row=keys.index(self.initial_job_id), animate=False)
            self.initial_job_id = None
        if self.focused is None:
            table.focus_table()
        self._show_selected()

    @staticmethod
    def _cells(job: JobRecord, slugs: dict[str, str]) -> list[Text]:
        return [render.short_id(job.id), render.plain(job.job_type),
                render.plain(slugs.get(job.site_id or "", "—")), render.status(job.status),
                render.plain(job.progress or ""),
                render.plain(f"{job.attempt_count}/{job.max_attempts}"),
                render.plain(job.created_at)]

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_selected()

    def selection(self) -> Selection:
        return Selection(job=self._selected())

    def _selected(self) -> JobRecord | None:
        key = self.query_one(ResourceTable).selected_key
        return self._jobs.get(key) if key else None

    def _show_selected(self) -> None:
        job = self._selected()
        detail = self.query_one("#job-detail", Static)
        log = self.query_one(JobLogView)
        if job is None:
            detail.update("")
            log.show(None)
            return
        log.show(log_path(self.core.rt.paths.job_logs_dir, job.id))
        if job.status in ("failed", "cancelled") and job.error_message:
            sentence = job.error_message.split("\n--- last output ---")[0]
            detail.update(Text.assemble(
                render.status(job.status), " ", Text(f"{job.error_code}: ", style="bold"),
                Text(sentence), Text("  (l: log)", style="dim")))
        else:
            detail.update(Text.assemble(render.status(job.status), " ",
                                        Text(job.progress or job.job_type, style="dim")))

    def action_focus_log(self) -> None:
        self.query_one(JobLogView).focus()

    def action_focus_table(self) -> None:
        self.query_one(ResourceTable).focus_table()
