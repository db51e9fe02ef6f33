"""Nodes: the Linux hosts that run sites. Registration only records the node; checking and
provisioning it are jobs."""

from __future__ import annotations

from pressluft_core import validation
from pressluft_core.clock import new_id
from pressluft_core.concurrency import update_versioned
from pressluft_core.errors import NotFoundError, StateError, ValidationError
from pressluft_core.models import Environment, Job, Node, Site
from pressluft_core.records import Actor, JobRecord, NodeRecord, from_row
from pressluft_core.services import jobs
from pressluft_core.services.base import Service, mutation


class NodesService(Service):
    @mutation("node.register", "node", target="name")
    def register(
        self,
        actor: Actor,
        name: str,
        hostname: str,
        *,
        ssh_port: int = 22,
        ssh_user: str = "root",
        public_ip: str | None = None,
        is_local: bool = False,
    ) -> NodeRecord:
        name = validation.slug("name", name)
        hostname = validation.hostname("hostname", hostname)
        ssh_port = validation.port("ssh_port", ssh_port)
        ssh_user = validation.unix_user("ssh_user", ssh_user)
        if public_ip:
            public_ip = validation.ipv4("public_ip", public_ip)
        if Node.select().where(Node.name == name).exists():
            raise ValidationError("name", f"a node named {name!r} already exists")
        if is_local and Node.select().where(Node.is_local == 1).exists():
            raise ValidationError("is_local", "this host is already registered as the local node")
        now = self.rt.now()
        node_id = new_id()
        Node.insert(
            id=node_id, name=name, hostname=hostname, public_ip=public_ip or None,
            ssh_port=ssh_port, ssh_user=ssh_user, status="provisioning",
            is_local=is_local, created_at=now, updated_at=now,
        ).execute()
        return from_row(NodeRecord, Node.get_by_id(node_id))

    @mutation("node.forget_host_key", "node", target="ref")
    def forget_host_key(self, actor: Actor, ref: str) -> NodeRecord:
        """Accept a legitimately changed host key (node reinstalled): the recorded key is
        cleared and the next connection records the one it is offered. Only after the
        operator compared the fingerprint the refusal showed with the node's own."""
        node = find_node(ref)
        if node.ssh_host_key is None:
            raise ValidationError("ref", f"node {node.name} has no recorded host key")
        update_versioned(Node, node.id, node.state_version, self.rt.clock, ssh_host_key=None)
        return from_row(NodeRecord, Node.get_by_id(node.id))

    @mutation("node.update", "node", target="ref")
    def update(self, actor: Actor, ref: str, *, public_ip: str | None = None,
               expected_version: int | None = None) -> NodeRecord:
        """Change what can change after registration (for now the public IP, which new
        environments' preview URLs are made from). ``expected_version`` guards against
        overwriting an edit made meanwhile; without it the current version is used."""
        node = find_node(ref)
        changes: dict[str, object] = {}
        if public_ip is not None:
            changes["public_ip"] = validation.ipv4("public_ip", public_ip) if public_ip else None
        if not changes:
            raise ValidationError("public_ip", "nothing to change")
        version = node.state_version if expected_version is None else expected_version
        update_versioned(Node, node.id, version, self.rt.clock, **changes)
        return from_row(NodeRecord, Node.get_by_id(node.id))

    @mutation("node.check", "node", resource_id=lambda job: job.node_id, target="ref")
    def check(self, actor: Actor, ref: str) -> JobRecord:
        """Queue a connectivity check; it sets the node active or unreachable."""
        node = find_node(ref)
        return jobs.enqueue(self.rt, "node_check", node_id=node.id,
                            payload={"node_id": node.id}, max_attempts=1)

    @mutation("node.provision", "node", resource_id=lambda job: job.node_id, target="ref")
    def provision(self, actor: Actor, ref: str, *, sites_root: str | None = None) -> JobRecord:
        """Queue the idempotent install and configuration of the WordPress stack.

        ``sites_root`` (default ``/var/www/sites``) is where environments will live; it is
        checked here, before anything reaches the node, and the node-side script checks it
        again because it is the one that uses it.
        """
        node = find_node(ref)
        if node.status == "decommissioned":
            raise ValidationError("ref", f"node {node.name} is decommissioned")
        payload: dict[str, object] = {"node_id": node.id, "sites_root": node.sites_root}
        if sites_root is not None:
            root = validation.absolute_path("sites_root", sites_root)
            if root != node.sites_root and Environment.live().where(
                    Environment.node_id == node.id).exists():
                raise ValidationError("sites_root", f"node {node.name} already holds "
                                      f"environments under {node.sites_root}")
            update_versioned(Node, node.id, node.state_version, self.rt.clock, sites_root=root)
            payload["sites_root"] = root
        return jobs.enqueue(self.rt, "node_provision", node_id=node.id, payload=payload,
                            max_attempts=3)

    @mutation("node.decommission", "node", resource_id=lambda record: record.id, target="ref")
    def decommission(self, actor: Actor, ref: str) -> NodeRecord:
        """Take a node out of service for good (``status=decommissioned``): no job runs on
        it again. Refused while environments live there, an old copy left by a move is
        still there, or jobs for it are queued or running: move, clean up, wait first."""
        node = find_node(ref)
        if node.status == "decommissioned":
            raise StateError(f"node {node.name} is already decommissioned")
        if node.is_local:
            raise StateError("the control plane's own node cannot be decommissioned")
        held = environments_on(node)
        if held:
            names = ", ".join(sorted(f"{_site_slug(e)}/{e.slug}" for e in held))
            raise StateError(f"node {node.name} still holds {len(held)} environment(s) "
                             f"({names}): move them (`pressluft env move`) and remove old "
                             "copies (`pressluft env move-cleanup`) first")
        if Job.select().where((Job.node_id == node.id)
                              & Job.status.in_(("queued", "running"))).exists():
            raise StateError(f"node {node.name} has queued or running jobs: decommission it "
                             "once they finished")
        update_versioned(Node, node.id, node.state_version, self.rt.clock,
                         status="decommissioned")
        return from_row(NodeRecord, Node.get_by_id(node.id))

    def public_key(self, token: str) -> str:
        """The control plane's SSH public key, for the operator to install on nodes."""
        from pressluft_core.remote.keys import public_key_line

        self.auth.require(token)
        return public_key_line(self.rt.secrets)

    def list(self, token: str) -> list[NodeRecord]:
        self.auth.require(token)
        return [from_row(NodeRecord, n) for n in Node.select().order_by(Node.name)]

    def get(self, token: str, ref: str) -> NodeRecord:
        """By id or name."""
        self.auth.require(token)
        return from_row(NodeRecord, find_node(ref))


def find_node(ref: str) -> Node:
    node = Node.get_or_none((Node.id == ref) | (Node.name == ref))
    if node is None:
        raise NotFoundError(f"no node {ref!r}: see `pressluft node list`")
    return node


def environments_on(node: Node) -> list[Environment]:
    """Live environments on ``node`` and those that left an old copy there."""
    return list(Environment.live().where((Environment.node_id == node.id)
                                         | (Environment.previous_node_id == node.id)))


def _site_slug(env: Environment) -> str:
    site = Site.get_or_none(Site.id == env.site_id)
    return site.slug if site else env.site_id
