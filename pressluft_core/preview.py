"""Preview URLs (DESIGN.md §6): every environment has one, fixed when it is created."""

from __future__ import annotations

from pressluft_core.errors import ValidationError
from pressluft_core.models import Node


def preview_url(environment_id: str, node: Node, preview_domain: str | None) -> str:
    """DESIGN.md §6: fixed at creation from the first 8 characters of the environment id."""
    short = environment_id[:8]
    if preview_domain:
        return f"https://{short}.{preview_domain}"
    if not node.public_ip:
        raise ValidationError(
            "node.public_ip",
            f"node {node.name!r} has no public IP, so no sslip.io preview URL can be made: "
            "set the node's public_ip or the preview_domain setting",
        )
    return f"http://{short}.{node.public_ip.replace('.', '-')}.sslip.io"
