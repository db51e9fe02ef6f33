"""Nodes: register one, check it, provision it, accept a changed host key, set its public
IP. Provisioning and forgetting a host key ask first; the forms keep their values on a
refusal."""

from __future__ import annotations

from pressluft_tui.context import in_worker
from pressluft_tui.controllers.base import Controller
from pressluft_tui.screens.form import Field

ADD_NOTE = ("Install the control plane's SSH key first (k on the Nodes screen) in the user's "
            "authorized_keys; the user needs sudo without a password unless it is root. The "
            "node is checked at once; p then provisions it.")


class Nodes(Controller):
    def add_node(self) -> None:
        fields = [Field("name", "Name (a-z, 0-9, -)", placeholder="e.g. web-2"),
                  Field("hostname", "Host name or IP to SSH to"),
                  Field("port", "SSH port", "22"), Field("user", "SSH user", "root"),
                  Field("public_ip", "Public IPv4 (empty: none yet)"),
                  Field("local", "This host", "no", choices=("no", "yes"))]
        self.submit_form("Add a node", fields, ADD_NOTE, self._add_node)

    def _add_node(self, values: dict[str, str]) -> None:
        node = self.core.nodes.register(
            self.token, values["name"].strip(), values["hostname"].strip(),
            ssh_port=values["port"].strip(),  # type: ignore[arg-type]  (register validates)
            ssh_user=values["user"].strip(), public_ip=values["public_ip"].strip() or None,
            is_local=values["local"] == "yes")
        job = self.core.nodes.check(self.token, node.id)
        self.tell(f"node {node.name} registered; checking it: job {job.id[:8]} (see Jobs)")

    @in_worker("action")
    def check_node(self, node_id: str) -> None:
        job = self.core.nodes.check(self.token, node_id)
        self.tell(f"checking the node: job {job.id[:8]}")

    def provision_node(self, node_id: str) -> None:
        node = self.core.nodes.get(self.token, node_id)
        self.confirm(f"Provision node {node.name}?", [
            f"node {node.name} ({node.ssh_user}@{node.hostname}:{node.ssh_port})",
            "installs what is missing: nginx, PHP-FPM, MariaDB, rsync, zstd, certbot …",
            "writes the default server (444 to unknown hosts, ACME path for every name)",
            "opens 22/80/443 in ufw where the node has it; starts the services",
            "safe to run again: a second run changes nothing and says so"],
            lambda: self._provision_node(node.id))

    @in_worker("action")
    def _provision_node(self, node_id: str) -> None:
        job = self.core.nodes.provision(self.token, node_id)
        self.tell(f"provisioning the node: job {job.id[:8]} (see Jobs)")

    def forget_host_key(self, node_id: str) -> None:
        node = self.core.nodes.get(self.token, node_id)
        self.confirm(f"Forget the host key of {node.name}?", [
            f"node {node.name} ({node.hostname}:{node.ssh_port})",
            "the recorded SSH host key is cleared; the next connection trusts the key "
            "the node then offers",
            "do this only after comparing the fingerprint in the refusal with "
            "`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the node"],
            lambda: self._forget_host_key(node.id), require_word=node.name, danger=True)

    @in_worker("action")
    def _forget_host_key(self, node_id: str) -> None:
        node = self.core.nodes.forget_host_key(self.token, node_id)
        self.tell(f"node {node.name}: host key cleared")

    def edit_node_ip(self, node_id: str) -> None:
        node = self.core.nodes.get(self.token, node_id)

        def save(values: dict[str, str]) -> None:
            saved = self.core.nodes.update(self.token, node.id, public_ip=values["public_ip"],
                                           expected_version=node.state_version)
            self.tell(f"node {saved.name}: public IP {saved.public_ip or '(none)'}")

        self.submit_form(f"Public IP of node {node.name}",
                         [Field("public_ip", "Public IPv4 (empty: none)", node.public_ip or "")],
                         "New environments on this node get sslip.io preview URLs made from "
                         "it; existing preview URLs stay as they are.", save)
