"""Across nodes: move an environment to another node, remove the old copy a move left
behind, decommission a node (issue 14).

A move of production asks for its slug: the copy is health-checked on the new node before
the switch, but the operator still has a DNS record to change, so the confirmation says
which.
"""

from __future__ import annotations

from pressluft_tui.context import in_worker
from pressluft_tui.controllers.base import Controller, Target
from pressluft_tui.screens.form import Field

MOVE_NOTE = ("Streams files and database to the node chosen, URLs unchanged, health-checks "
             "the copy there, then switches the environment to it. The old node serves "
             "until you change DNS; its copy stays until you remove it (env: remove old "
             "copy).")


class Fleet(Controller):
    # -- move -------------------------------------------------------------------------------

    def move(self, site_id: str, env_id: str) -> None:
        self.with_target(site_id, env_id, self._ask_move)

    def _ask_move(self, target: Target) -> None:
        choices = target.other_nodes()
        if not choices:
            self.refuse(f"{target.label}: no other active node to move it to (add and "
                        "provision one first)")
            return
        self.ask(f"Move {target.label} from {target.node_name}", [
            Field("to", "To node", choices[0], choices=choices)], MOVE_NOTE,
            lambda values: self._confirm_move(target, values["to"]))

    def _confirm_move(self, target: Target, to: str) -> None:
        node = next(n for n in target.nodes if n.name == to)
        self.confirm(f"Move {target.label} to {to}?", [
            f"{target.env.environment_type} {target.label} · {target.env.preview_url}",
            f"from node {target.node_name} to node {to} ({node.hostname}): files and "
            "database streamed, health-checked there before the switch",
            f"then DNS is yours to change: point its A records at "
            f"{node.public_ip or node.hostname}",
            f"the old copy stays on {target.node_name} until you remove it"],
            lambda: self._move(target, to), danger=target.production,
            require_word=target.env.slug if target.production else None)

    @in_worker("action")
    def _move(self, target: Target, to: str) -> None:
        job = self.core.moves.move(self.token, target.site.id, target.env.id, to=to,
                                   confirm=target.env.slug if target.production else None)
        self.tell(f"moving {target.label} to {to}: {job.job_type} job {job.id[:8]} queued "
                  "(see Jobs)")

    # -- the old copy -----------------------------------------------------------------------

    def remove_old_copy(self, site_id: str, env_id: str) -> None:
        self.with_target(site_id, env_id, self._ask_remove_old_copy)

    def _ask_remove_old_copy(self, target: Target) -> None:
        old = next((n.name for n in target.nodes if n.id == target.env.previous_node_id),
                   None)
        if old is None:
            self.ctx.notify(f"{target.label} has no old copy on another node; nothing was "
                            "done", title="Nothing to remove", severity="warning",
                            markup=False)
            return
        self.confirm(f"Remove the old copy of {target.label} from {old}?", [
            f"{target.label} now runs on {target.node_name}",
            f"its old copy on {old} (files, database, PHP-FPM pool, nginx site) is "
            "removed for good: change DNS first if it still points there"],
            lambda: self._remove_old_copy(target), danger=True)

    @in_worker("action")
    def _remove_old_copy(self, target: Target) -> None:
        job = self.core.moves.cleanup(self.token, target.site.id, target.env.id)
        self.tell(f"removing the old copy of {target.label}: {job.job_type} job "
                  f"{job.id[:8]} queued (see Jobs)")

    # -- decommission -----------------------------------------------------------------------

    @in_worker("node-load")
    def decommission(self, node_id: str) -> None:
        node = self.core.nodes.get(self.token, node_id)
        self.ctx.call_from_thread(self.confirm, f"Decommission node {node.name}?", [
            f"node {node.name} is taken out of service for good: no job runs on it again",
            "refused while environments or old copies of moved ones live there"],
            lambda: self._decommission(node.id), require_word=node.name, danger=True)

    @in_worker("action")
    def _decommission(self, node_id: str) -> None:
        node = self.core.nodes.decommission(self.token, node_id)
        self.tell(f"node {node.name}: decommissioned")
