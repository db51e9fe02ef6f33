"""The console's actions, one small controller per domain. Each reaches the app only
through :class:`~pressluft_tui.context.ConsoleContext`; :class:`Controllers` builds them
all once for the app, and the action table (:mod:`pressluft_tui.actions`) calls them."""

from __future__ import annotations

from pressluft_tui.context import ConsoleContext
from pressluft_tui.controllers.backups import Backups
from pressluft_tui.controllers.domains import Domains
from pressluft_tui.controllers.environments import Environments
from pressluft_tui.controllers.fleet import Fleet
from pressluft_tui.controllers.jobs import Jobs
from pressluft_tui.controllers.maintenance import Maintenance
from pressluft_tui.controllers.navigation import Navigation
from pressluft_tui.controllers.nodes import Nodes
from pressluft_tui.controllers.promotion import Promotion
from pressluft_tui.controllers.settings import Settings
from pressluft_tui.controllers.sites import Sites


class Controllers:
    def __init__(self, ctx: ConsoleContext) -> None:
        self.navigation = Navigation(ctx)
        self.sites = Sites(ctx)
        self.nodes = Nodes(ctx)
        self.environments = Environments(ctx)
        self.backups = Backups(ctx)
        self.maintenance = Maintenance(ctx)
        self.promotion = Promotion(ctx, self.navigation.open_jobs)
        self.domains = Domains(ctx)
        self.fleet = Fleet(ctx)
        self.jobs = Jobs(ctx)
        self.settings = Settings(ctx)
