"""Preview URLs (DESIGN.md §6): every environment has one, fixed when it is created."""

from __future__ import annotations

from pressluft_core.errors import ValidationError
from pressluft_core.models import Node, Setting


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


def configured_preview_domain() -> str | None:
    """The ``preview_domain`` setting for a new preview URL. Set, it makes preview URLs
    ``https://…``, which need the node's wildcard certificate, got through DNS-01: refused
    without ``dns01_provider`` before anything is created, not after a job has failed."""
    row = Setting.get_or_none(Setting.key == "preview_domain")
    if row is None:
        return None
    if Setting.get_or_none(Setting.key == "dns01_provider") is None:
        raise ValidationError(
            "dns01_provider",
            f"preview_domain is {row.value}, so preview URLs are https://<8>.{row.value}; "
            "their wildcard certificate needs the dns01_provider setting (and "
            "dns01_credentials_json): set them, or unset preview_domain")
    return row.value
