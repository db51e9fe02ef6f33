"""Sites: create one, or import one from an archive. Both forms call the core in their
worker, so a refusal keeps the form open with what was typed."""

from __future__ import annotations

from pressluft_core import enums
from pressluft_tui.controllers.base import Controller
from pressluft_tui.screens.form import Field

IMPORT_NOTE = ("A new site whose production environment is made from a .tar.gz or .tar.zst "
               "archive (db.sql and files/; a Pressluft backup imports as is) on this host's "
               "node. The archive is checked on the node before anything changes.")


class Sites(Controller):
    def new_site(self) -> None:
        fields = [Field("name", "Site name"), Field("slug", "Slug (a-z, 0-9, -)"),
                  Field("node", "Node (empty: this host)"),
                  Field("preset", "Promotion preset", "content-protect")]
        self.submit_form("New site", fields, "Creates the site and its production "
                         "environment, then installs WordPress on the node as a job.",
                         self._create_site)

    def _create_site(self, values: dict[str, str]) -> None:
        job = self.core.sites.create(self.token, values["name"], values["slug"],
                                     node=values["node"] or None,
                                     promotion_preset=values["preset"] or "content-protect")
        self.tell(f"site {values['slug']} created; {job.job_type} job {job.id[:8]} queued")

    def import_site(self) -> None:
        fields = [Field("name", "Site name"), Field("slug", "Slug (a-z, 0-9, -)"),
                  Field("source", "Archive (https URL or a path on this machine)",
                        placeholder="e.g. https://example.net/export.tar.zst"),
                  Field("preset", "Promotion preset", "content-protect",
                        choices=enums.PROMOTION_PRESET)]
        self.submit_form("Import a site", fields, IMPORT_NOTE, self._import_site)

    def _import_site(self, values: dict[str, str]) -> None:
        job = self.core.sites.import_site(self.token, values["name"].strip(),
                                          values["slug"].strip(), values["source"].strip(),
                                          promotion_preset=values["preset"])
        self.tell(f"site {values['slug'].strip()} created; importing: {job.job_type} job "
                  f"{job.id[:8]} queued (see Jobs)")
