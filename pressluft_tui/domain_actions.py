"""Custom domains and site import from the console: add a domain to an environment,
make another one primary, remove one; import a site from an archive.

Mixed into :class:`PressluftApp` beside :class:`~pressluft_tui.env_actions.
EnvironmentActions`. Each action loads what its dialogs name in a thread worker, asks on
the UI thread, and calls the core in another worker whose errors reach the app's one
handler — except the forms, which keep their values on a refusal (see FormScreen).
Making a domain primary (or adding one that becomes primary) moves WordPress's URLs, so
on production it asks first; removing a domain needs its host name typed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import work

from pressluft_core import enums
from pressluft_core.records import DomainRecord, EnvironmentRecord, SiteRecord
from pressluft_tui.screens.confirm import ConfirmScreen
from pressluft_tui.screens.form import Field, FormScreen

if TYPE_CHECKING:
    from pressluft_tui.env_actions import EnvironmentActions as _Base
else:
    _Base = object

PREVIEW = "(preview URL)"


@dataclass(frozen=True)
class DomainTarget:
    """An environment and its domains, as the domain dialogs describe them."""

    site: SiteRecord
    env: EnvironmentRecord
    domains: list[DomainRecord]

    @property
    def label(self) -> str:
        return f"{self.site.slug}/{self.env.slug}"

    @property
    def production(self) -> bool:
        return self.env.environment_type == "production"

    @property
    def primary(self) -> DomainRecord | None:
        return next((d for d in self.domains if d.id == self.env.primary_domain_id), None)

    @property
    def current_url(self) -> str:
        primary = self.primary
        return f"https://{primary.hostname}" if primary else self.env.preview_url

    def domain(self, ref: str) -> DomainRecord | None:
        return next((d for d in self.domains if ref in (d.id, d.hostname)), None)


class DomainActions(_Base):
    """Needs ``core``, ``token`` and ``tell`` (from the other mixins)."""

    @work(thread=True, exclusive=True, group="env-load", exit_on_error=False)
    def _load_domains(self, site_id: str, env_id: str,
                      then: Callable[[DomainTarget], object]) -> None:
        token = self.token or ""
        env = self.core.environments.get(token, site_id, env_id)
        target = DomainTarget(self.core.sites.get(token, site_id), env,
                              self.core.domains.list(token, site_id, env.id))
        self.call_from_thread(then, target)

    def _refuse(self, sentence: str) -> None:
        self.notify(f"{sentence}; nothing was done", title="Refused", severity="error",
                    markup=False)

    # -- add ------------------------------------------------------------------------------

    def add_domain(self, site_id: str, env_id: str) -> None:
        self._load_domains(site_id, env_id, self._ask_add)

    def _ask_add(self, target: DomainTarget) -> None:
        to_confirm: list[tuple[str, bool]] = []

        def submit(values: dict[str, str]) -> None:
            """In the form's worker: a refused host name keeps the form open. A new primary
            URL for production is added only after the confirmation, so its name is
            checked here first."""
            hostname, primary = values["hostname"].strip(), values["primary"] == "yes"
            if (primary or not target.domains) and target.production:
                to_confirm.append((self.core.domains.check_hostname(self.token or "",
                                                                    hostname), primary))
            else:
                self._add_now(target, hostname, primary)

        def closed(values: dict[str, str] | None) -> None:
            if values and to_confirm:
                self._confirm_add(target, *to_confirm[-1])

        first = ("It is the environment's first domain, so it becomes primary either way. "
                 if not target.domains else "")
        self.push_screen(FormScreen(f"Add a domain to {target.label}", [
            Field("hostname", "Host name", placeholder="e.g. shop.example.com"),
            Field("primary", "Primary", "no", choices=("no", "yes"))],
            f"Its DNS must point at the node ({target.env.preview_url} is served there): "
            "a job checks DNS, gets a Let's Encrypt certificate and adds the nginx server "
            f"block. {first}The primary domain is WordPress's URL: making it primary "
            f"rewrites the URLs from {target.current_url}.", submit=submit), closed)

    def _confirm_add(self, target: DomainTarget, hostname: str, primary: bool) -> None:
        lines = [f"{hostname} is added to {target.label}: DNS check, certificate, nginx",
                 f"then it becomes the primary domain: WordPress's URLs are rewritten from "
                 f"{target.current_url} to https://{hostname}",
                 "visitors of the old URL are redirected; links in e-mails and caches "
                 "change"]

        def decided(confirmed: bool | None) -> None:
            if confirmed:
                self._add(target, hostname, primary)

        self.push_screen(ConfirmScreen(f"Add {hostname} as production's URL?", lines,
                                       danger=True), decided)

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _add(self, target: DomainTarget, hostname: str, primary: bool) -> None:
        self._add_now(target, hostname, primary)

    def _add_now(self, target: DomainTarget, hostname: str, primary: bool) -> None:
        job = self.core.domains.add(self.token or "", target.site.id, target.env.id,
                                    hostname, primary=primary)
        self.tell(f"adding {job.payload['hostname']} to {target.label}: {job.job_type} job "
                  f"{job.id[:8]} queued (see Jobs)")

    # -- make primary ---------------------------------------------------------------------

    def make_primary_domain(self, site_id: str, env_id: str, domain_ref: str) -> None:
        self._load_domains(site_id, env_id,
                           lambda target: self._confirm_primary(target, domain_ref))

    def _confirm_primary(self, target: DomainTarget, domain_ref: str) -> None:
        domain = target.domain(domain_ref)
        if domain is None:
            self._refuse(f"{target.label} has no domain {domain_ref}")
            return
        if domain.id == target.env.primary_domain_id:
            self._refuse(f"{domain.hostname} is already the primary domain of "
                         f"{target.label}")
            return
        lines = [f"WordPress's URLs of {target.label} are rewritten from "
                 f"{target.current_url} to https://{domain.hostname}",
                 ("the previous primary domain redirects to it" if target.primary else
                  "the preview URL keeps working"),
                 (f"its certificate is {domain.tls_status}: it is requested again first"
                  if domain.tls_status != "active" else
                  "its certificate is active; DNS is checked again")]

        def decided(confirmed: bool | None) -> None:
            if confirmed:
                self._make_primary(target, domain)

        self.push_screen(ConfirmScreen(f"Make {domain.hostname} primary?", lines,
                                       danger=target.production), decided)

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _make_primary(self, target: DomainTarget, domain: DomainRecord) -> None:
        job = self.core.domains.make_primary(self.token or "", target.site.id,
                                             domain.hostname)
        self.tell(f"making {domain.hostname} primary: {job.job_type} job {job.id[:8]} "
                  "queued (see Jobs)")

    # -- remove ---------------------------------------------------------------------------

    def remove_domain(self, site_id: str, env_id: str, domain_ref: str) -> None:
        self._load_domains(site_id, env_id,
                           lambda target: self._ask_remove(target, domain_ref))

    def _ask_remove(self, target: DomainTarget, domain_ref: str) -> None:
        domain = target.domain(domain_ref)
        if domain is None:
            self._refuse(f"{target.label} has no domain {domain_ref}")
            return
        others = [d.hostname for d in target.domains
                  if d.id != domain.id and d.tls_status == "active"]
        if domain.id != target.env.primary_domain_id or not others:
            self._confirm_remove(target, domain, None)
            return

        def submitted(values: dict[str, str] | None) -> None:
            if values:
                url = values["url"]
                self._confirm_remove(target, domain, None if url == PREVIEW else url)

        self.push_screen(FormScreen(f"Remove {domain.hostname}", [
            Field("url", "WordPress's URL afterwards", PREVIEW,
                  choices=(PREVIEW, *others))],
            f"{domain.hostname} is the primary domain of {target.label}: WordPress's URLs "
            "move to its preview URL or to another domain with an active certificate. "
            "The next step asks for the host name."), submitted)

    def _confirm_remove(self, target: DomainTarget, domain: DomainRecord,
                        new_primary: str | None) -> None:
        lines = [f"{domain.hostname} of {target.label}: its nginx server block and "
                 "certificate leave the node; it stops answering"]
        if domain.id == target.env.primary_domain_id:
            after = f"https://{new_primary}" if new_primary else target.env.preview_url
            lines.append(f"it is the primary domain: WordPress's URLs are rewritten to "
                         f"{after}")
        lines.append("DNS is not changed: point it elsewhere yourself")

        def decided(confirmed: bool | None) -> None:
            if confirmed:
                self._remove(target, domain, new_primary)

        self.push_screen(ConfirmScreen(f"Remove {domain.hostname}?", lines,
                                       require_word=domain.hostname, danger=True), decided)

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _remove(self, target: DomainTarget, domain: DomainRecord,
                new_primary: str | None) -> None:
        job = self.core.domains.remove(self.token or "", target.site.id, domain.hostname,
                                       confirm=domain.hostname, new_primary=new_primary)
        self.tell(f"removing {domain.hostname} from {target.label}: {job.job_type} job "
                  f"{job.id[:8]} queued (see Jobs)")

    # -- certificates ---------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def action_check_certificate_expiry(self) -> None:
        job = self.core.domains.check_expiry(self.token or "")
        self.tell(f"reading every certificate's expiry from its node: {job.job_type} job "
                  f"{job.id[:8]} queued (see Jobs)")

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def get_preview_certificate(self, node_id: str) -> None:
        """Nothing to confirm: getting the wildcard again only replaces it with a newer one
        (certbot keeps the old one until the new one is there)."""
        job = self.core.domains.preview_certificate(self.token or "", node_id)
        self.tell(f"getting the wildcard preview certificate: {job.job_type} job "
                  f"{job.id[:8]} queued (see Jobs)")

    # -- import a site --------------------------------------------------------------------

    def import_site(self) -> None:
        fields = [Field("name", "Site name"), Field("slug", "Slug (a-z, 0-9, -)"),
                  Field("source", "Archive (https URL or a path on this machine)",
                        placeholder="e.g. https://example.net/export.tar.zst"),
                  Field("preset", "Promotion preset", "content-protect",
                        choices=enums.PROMOTION_PRESET)]

        self.push_screen(FormScreen("Import a site", fields,
                                    "A new site whose production environment is made from "
                                    "a .tar.gz or .tar.zst archive (db.sql and files/; a "
                                    "Pressluft backup imports as is) on this host's node. "
                                    "The archive is checked on the node before anything "
                                    "changes.", submit=self._import_site))

    def _import_site(self, values: dict[str, str]) -> None:
        """Runs in the form's worker: a refusal keeps the form open with the values."""
        job = self.core.sites.import_site(self.token or "", values["name"].strip(),
                                          values["slug"].strip(), values["source"].strip(),
                                          promotion_preset=values["preset"])
        self.tell(f"site {values['slug'].strip()} created; importing: {job.job_type} job "
                  f"{job.id[:8]} queued (see Jobs)")
