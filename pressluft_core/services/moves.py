"""Moving an environment to another node, and removing the copy it left behind
(issue 14). The work is the ``env_move`` and ``env_move_cleanup`` jobs."""

from __future__ import annotations

from pressluft_core.errors import StateError, ValidationError
from pressluft_core.models import Domain, Job, Node
from pressluft_core.records import Actor, JobRecord
from pressluft_core.services import jobs
from pressluft_core.services.base import Service, mutation
from pressluft_core.services.environments import find_environment
from pressluft_core.services.nodes import find_node


class MovesService(Service):
    @mutation("env.move", "environment", resource_id=lambda job: job.environment_id,
              target="env_ref")
    def move(self, actor: Actor, site_ref: str, env_ref: str, *, to: str,
             confirm: str | None = None) -> JobRecord:
        """Queue ``env_move``: files and database streamed to node ``to``, URLs unchanged,
        health-checked there, then the switch; the old copy stays until cleaned up.
        Production needs ``confirm`` to repeat the environment's slug."""
        env = find_environment(site_ref, env_ref)
        target = find_node(to)
        if env.status != "active" or env.current_release_id is None:
            raise StateError(f"environment {env.slug} is {env.status}"
                             + ("" if env.current_release_id else " and has no release")
                             + ": only an active environment can be moved")
        if target.id == env.node_id:
            raise ValidationError("to", f"{env.slug} already runs on node {target.name}")
        if target.status != "active":
            raise ValidationError("to", f"node {target.name} is {target.status}: only an "
                                        "active node takes environments")
        if env.previous_node_id is not None:
            old = Node.get_or_none(Node.id == env.previous_node_id)
            raise StateError(f"{env.slug} still has an old copy on node "
                             f"{old.name if old else env.previous_node_id}: remove it first "
                             "(`pressluft env move-cleanup`)")
        domains = sorted(d.hostname for d in Domain.select().where(
            Domain.environment_id == env.id))
        if domains:
            raise StateError(f"{env.slug} serves custom domains ({', '.join(domains)}): "
                             "moving their certificates and server blocks is not built yet, "
                             "so the copy could not pass its health check on the new node; "
                             "remove the domains first or keep it on this node")
        if env.environment_type == "production" and confirm != env.slug:
            raise ValidationError("confirm", f"moving production: type the environment's "
                                             f"slug ({env.slug}) to confirm")
        busy = Job.select().where((Job.environment_id == env.id)
                                  & Job.status.in_(("queued", "running")))
        if busy.exists():
            raise StateError(f"{env.slug} has queued or running jobs: move it once they "
                             "finished")
        return jobs.enqueue(self.rt, "env_move", site_id=env.site_id, environment_id=env.id,
                            node_id=target.id, payload={"from_node_id": env.node_id},
                            max_attempts=3)

    @mutation("env.move_cleanup", "environment", resource_id=lambda job: job.environment_id,
              target="env_ref")
    def cleanup(self, actor: Actor, site_ref: str, env_ref: str) -> JobRecord:
        """Queue ``env_move_cleanup``: the copy a move left on the old node is removed
        (user, pool, database, nginx block, files)."""
        env = find_environment(site_ref, env_ref)
        if env.previous_node_id is None:
            raise StateError(f"{env.slug} has no old copy on another node")
        return jobs.enqueue(self.rt, "env_move_cleanup", site_id=env.site_id,
                            environment_id=env.id, node_id=env.previous_node_id, payload={})

