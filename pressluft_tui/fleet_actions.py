"""What the operator can do across nodes: move an environment to another node, remove the
old copy a move left behind, decommission a node (issue 14).

Mixed into :class:`PressluftApp` like the other action mixins. A move of production asks
for its slug: the copy is health-checked on the new node before the switch, but the
operator still has a DNS record to change, so the confirmation says which.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual import work

from pressluft_tui.env_actions import Target
from pressluft_tui.screens.confirm import ConfirmScreen
from pressluft_tui.screens.form import Field, FormScreen

if TYPE_CHECKING:
    from textual.app import App

    from pressluft_core.app import Pressluft

    _AppBase = App[None]
else:
    _AppBase = object

MOVE_NOTE = ("Streams files and database to the node chosen, URLs unchanged, health-checks "
             "the copy there, then switches the environment to it. The old node serves "
             "until you change DNS; its copy stays until you remove it (env: remove old "
             "copy).")


class FleetActions(_AppBase):
    """Mixed into :class:`PressluftApp`; needs ``core``, ``token``, ``tell`` and the
    environment loader of :class:`~pressluft_tui.env_actions.EnvironmentActions`."""

    core: Pressluft
    token: str | None
    tell: Callable[[str], None]
    _load: Callable[[str, str, Callable[[Target], object]], object]

    # -- entry points (bindings and the command palette) --------------------------------

    def move_environment(self, site_id: str, env_id: str) -> None:
        self._load(site_id, env_id, self._ask_move)

    def remove_old_copy(self, site_id: str, env_id: str) -> None:
        self._load(site_id, env_id, self._ask_remove_old_copy)

    def decommission_node(self, node_id: str) -> None:
        self._load_node(node_id)

    # -- move -----------------------------------------------------------------------------

    def _ask_move(self, target: Target) -> None:
        choices = target.other_nodes()
        if not choices:
            self.notify(f"{target.label}: no other active node to move it to (add and "
                        "provision one first); nothing was done", title="Refused",
                        severity="error", markup=False)
            return

        def submitted(values: dict[str, str] | None) -> None:
            if values:
                self._confirm_move(target, values["to"])

        self.push_screen(FormScreen(f"Move {target.label} from {target.node_name}", [
            Field("to", "To node", choices[0], choices=choices)], MOVE_NOTE), submitted)

    def _confirm_move(self, target: Target, to: str) -> None:
        node = next(n for n in target.nodes if n.name == to)
        lines = [f"{target.env.environment_type} {target.label} · {target.env.preview_url}",
                 f"from node {target.node_name} to node {to} ({node.hostname}): files and "
                 "database streamed, health-checked there before the switch",
                 f"then DNS is yours to change: point its A records at "
                 f"{node.public_ip or node.hostname}",
                 f"the old copy stays on {target.node_name} until you remove it"]

        def decided(confirmed: bool | None) -> None:
            if confirmed:
                self._move(target, to)

        self.push_screen(ConfirmScreen(
            f"Move {target.label} to {to}?", lines, danger=target.production,
            require_word=target.env.slug if target.production else None), decided)

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _move(self, target: Target, to: str) -> None:
        job = self.core.moves.move(self.token or "", target.site.id, target.env.id, to=to,
                                   confirm=target.env.slug if target.production else None)
        self.tell(f"moving {target.label} to {to}: {job.job_type} job {job.id[:8]} queued "
                  "(see Jobs)")

    # -- the old copy ---------------------------------------------------------------------

    def _ask_remove_old_copy(self, target: Target) -> None:
        old = next((n.name for n in target.nodes if n.id == target.env.previous_node_id),
                   None)
        if old is None:
            self.notify(f"{target.label} has no old copy on another node; nothing was done",
                        title="Nothing to remove", severity="warning", markup=False)
            return
        lines = [f"{target.label} now runs on {target.node_name}",
                 f"its old copy on {old} (files, database, PHP-FPM pool, nginx site) is "
                 "removed for good: change DNS first if it still points there"]

        def decided(confirmed: bool | None) -> None:
            if confirmed:
                self._remove_old_copy(target)

        self.push_screen(ConfirmScreen(f"Remove the old copy of {target.label} from {old}?",
                                       lines, danger=True), decided)

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _remove_old_copy(self, target: Target) -> None:
        job = self.core.moves.cleanup(self.token or "", target.site.id, target.env.id)
        self.tell(f"removing the old copy of {target.label}: {job.job_type} job "
                  f"{job.id[:8]} queued (see Jobs)")

    # -- decommission ---------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="node-load", exit_on_error=False)
    def _load_node(self, node_id: str) -> None:
        node = self.core.nodes.get(self.token or "", node_id)
        self.call_from_thread(self._ask_decommission, node.id, node.name)

    def _ask_decommission(self, node_id: str, name: str) -> None:
        lines = [f"node {name} is taken out of service for good: no job runs on it again",
                 "refused while environments or old copies of moved ones live there"]

        def decided(confirmed: bool | None) -> None:
            if confirmed:
                self._decommission(node_id)

        self.push_screen(ConfirmScreen(f"Decommission node {name}?", lines,
                                       require_word=name, danger=True), decided)

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _decommission(self, node_id: str) -> None:
        node = self.core.nodes.decommission(self.token or "", node_id)
        self.tell(f"node {node.name}: decommissioned")
