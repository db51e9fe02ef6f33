"""The one object the CLI, the console, the worker and the tests hold: every service,
wired to one database, clock and secrets store."""

from __future__ import annotations

import os
from pathlib import Path

import peewee

from pressluft_core import migrations
from pressluft_core.clock import Clock, SystemClock
from pressluft_core.db import dialect_of, open_database
from pressluft_core.jobs.registry import load_handlers
from pressluft_core.memory import return_large_blocks_to_the_kernel
from pressluft_core.paths import Paths
from pressluft_core.secrets import SecretStore
from pressluft_core.services.audit import AuditService
from pressluft_core.services.auth import AuthService
from pressluft_core.services.backups import BackupsService
from pressluft_core.services.base import Runtime
from pressluft_core.services.domains import DomainsService
from pressluft_core.services.environments import EnvironmentsService
from pressluft_core.services.jobs import JobsService
from pressluft_core.services.moves import MovesService
from pressluft_core.services.nodes import NodesService
from pressluft_core.services.overview import OverviewService
from pressluft_core.services.promotion import PromotionService
from pressluft_core.services.settings import SettingsService
from pressluft_core.services.sites import SitesService


def job_type_rules(name: str) -> tuple[str | None, bool]:
    """What the jobs service must know to cancel a job of type ``name`` (see
    :data:`pressluft_core.services.jobs.JobTypeRules`), read from the handlers' registry."""
    job_type = load_handlers().get(name)
    return (job_type.running_status, job_type.moves_site) if job_type else (None, False)


class Pressluft:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.auth = AuthService(rt)
        self.audit = AuditService(rt, self.auth)
        self.settings = SettingsService(rt, self.auth)
        self.nodes = NodesService(rt, self.auth)
        self.sites = SitesService(rt, self.auth)
        self.environments = EnvironmentsService(rt, self.auth)
        self.backups = BackupsService(rt, self.auth)
        self.domains = DomainsService(rt, self.auth)
        self.promotion = PromotionService(rt, self.auth)
        self.moves = MovesService(rt, self.auth)
        self.jobs = JobsService(rt, self.auth, job_type_rules)
        self.overview = OverviewService(rt, self.auth)

    @classmethod
    def open(
        cls,
        home: str | os.PathLike[str] | None = None,
        *,
        database_url: str | None = None,
        clock: Clock | None = None,
        migrate: bool = True,
    ) -> Pressluft:
        """Open (and by default migrate) the installation at ``home`` or the default place."""
        return_large_blocks_to_the_kernel()
        paths = Paths.from_env(home)
        paths.ensure()
        db = open_database(database_url, paths.database)
        db.connect(reuse_if_open=True)
        if dialect_of(db) == "sqlite":
            # Password hashes and session hashes live here: owner-only, like the secrets.
            for suffix in ("", "-wal", "-shm"):
                candidate = Path(f"{paths.database}{suffix}")
                if candidate.exists():
                    candidate.chmod(0o600)
        if migrate:
            migrations.migrate(db)
        rt = Runtime(paths=paths, db=db, clock=clock or SystemClock(),
                     secrets=SecretStore(paths.secrets_dir))
        return cls(rt)

    @property
    def db(self) -> peewee.Database:
        return self.rt.db

    @property
    def backend(self) -> str:
        return dialect_of(self.rt.db)

    @property
    def database_location(self) -> str:
        if self.backend == "sqlite":
            return str(Path(self.rt.db.database))
        return "postgresql"

    def close(self) -> None:
        if not self.rt.db.is_closed():
            self.rt.db.close()
