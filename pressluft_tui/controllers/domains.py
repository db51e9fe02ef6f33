"""Custom domains and certificates: add a domain to an environment, make another one
primary, remove one; read every certificate's expiry; get a node's wildcard preview
certificate.

Making a domain primary (or adding one that becomes primary) moves WordPress's URLs, so
on production it asks first; removing a domain needs its host name typed.
"""

from __future__ import annotations

from pressluft_core.records import DomainRecord
from pressluft_tui.context import in_worker
from pressluft_tui.controllers.base import Controller, Target
from pressluft_tui.screens.form import Field

PREVIEW = "(preview URL)"
NO_DOMAIN = "This environment has no domain yet: a adds one."


class Domains(Controller):
    # -- add --------------------------------------------------------------------------------

    def add(self, site_id: str, env_id: str) -> None:
        self.with_target(site_id, env_id, self._ask_add)

    def _ask_add(self, target: Target) -> None:
        to_confirm: list[tuple[str, bool]] = []

        def submit(values: dict[str, str]) -> None:
            """In the form's worker: a refused host name keeps the form open. A new primary
            URL for production is added only after the confirmation, so its name is
            checked here first."""
            hostname, primary = values["hostname"].strip(), values["primary"] == "yes"
            if (primary or not target.domains) and target.production:
                to_confirm.append((self.core.domains.check_hostname(self.token, hostname),
                                   primary))
            else:
                self._add_now(target, hostname, primary)

        def closed(values: dict[str, str] | None) -> None:
            if values and to_confirm:
                self._confirm_add(target, *to_confirm[-1])

        first = ("It is the environment's first domain, so it becomes primary either way. "
                 if not target.domains else "")
        self.submit_form(f"Add a domain to {target.label}", [
            Field("hostname", "Host name", placeholder="e.g. shop.example.com"),
            Field("primary", "Primary", "no", choices=("no", "yes"))],
            f"Its DNS must point at the node ({target.env.preview_url} is served there): "
            "a job checks DNS, gets a Let's Encrypt certificate and adds the nginx server "
            f"block. {first}The primary domain is WordPress's URL: making it primary "
            f"rewrites the URLs from {target.current_url}.", submit, closed)

    def _confirm_add(self, target: Target, hostname: str, primary: bool) -> None:
        self.confirm(f"Add {hostname} as production's URL?", [
            f"{hostname} is added to {target.label}: DNS check, certificate, nginx",
            f"then it becomes the primary domain: WordPress's URLs are rewritten from "
            f"{target.current_url} to https://{hostname}",
            "visitors of the old URL are redirected; links in e-mails and caches change"],
            lambda: self._add(target, hostname, primary), danger=True)

    @in_worker("action")
    def _add(self, target: Target, hostname: str, primary: bool) -> None:
        self._add_now(target, hostname, primary)

    def _add_now(self, target: Target, hostname: str, primary: bool) -> None:
        job = self.core.domains.add(self.token, target.site.id, target.env.id, hostname,
                                    primary=primary)
        self.tell(f"adding {job.payload['hostname']} to {target.label}: {job.job_type} job "
                  f"{job.id[:8]} queued (see Jobs)")

    # -- make primary -----------------------------------------------------------------------

    def make_primary(self, site_id: str, env_id: str, domain_ref: str | None) -> None:
        """``domain_ref``: the selected row's id, or a host name (from the palette)."""
        if domain_ref is None:
            self.ctx.notify(NO_DOMAIN, markup=False)
            return
        self.with_target(site_id, env_id,
                         lambda target: self._confirm_primary(target, domain_ref))

    def _confirm_primary(self, target: Target, domain_ref: str) -> None:
        domain = target.domain(domain_ref)
        if domain is None:
            self.refuse(f"{target.label} has no domain {domain_ref}")
            return
        if domain.id == target.env.primary_domain_id:
            self.refuse(f"{domain.hostname} is already the primary domain of {target.label}")
            return
        self.confirm(f"Make {domain.hostname} primary?", [
            f"WordPress's URLs of {target.label} are rewritten from "
            f"{target.current_url} to https://{domain.hostname}",
            ("the previous primary domain redirects to it" if target.primary else
             "the preview URL keeps working"),
            (f"its certificate is {domain.tls_status}: it is requested again first"
             if domain.tls_status != "active" else
             "its certificate is active; DNS is checked again")],
            lambda: self._make_primary(target, domain), danger=target.production)

    @in_worker("action")
    def _make_primary(self, target: Target, domain: DomainRecord) -> None:
        job = self.core.domains.make_primary(self.token, target.site.id, domain.hostname)
        self.tell(f"making {domain.hostname} primary: {job.job_type} job {job.id[:8]} "
                  "queued (see Jobs)")

    # -- remove -----------------------------------------------------------------------------

    def remove(self, site_id: str, env_id: str, domain_ref: str | None) -> None:
        if domain_ref is None:
            self.ctx.notify(NO_DOMAIN, markup=False)
            return
        self.with_target(site_id, env_id, lambda target: self._ask_remove(target, domain_ref))

    def _ask_remove(self, target: Target, domain_ref: str) -> None:
        domain = target.domain(domain_ref)
        if domain is None:
            self.refuse(f"{target.label} has no domain {domain_ref}")
            return
        others = [d.hostname for d in target.domains
                  if d.id != domain.id and d.tls_status == "active"]
        if domain.id != target.env.primary_domain_id or not others:
            self._confirm_remove(target, domain, None)
            return

        def chosen(values: dict[str, str]) -> None:
            url = values["url"]
            self._confirm_remove(target, domain, None if url == PREVIEW else url)

        self.ask(f"Remove {domain.hostname}", [
            Field("url", "WordPress's URL afterwards", PREVIEW, choices=(PREVIEW, *others))],
            f"{domain.hostname} is the primary domain of {target.label}: WordPress's URLs "
            "move to its preview URL or to another domain with an active certificate. "
            "The next step asks for the host name.", chosen)

    def _confirm_remove(self, target: Target, domain: DomainRecord,
                        new_primary: str | None) -> None:
        lines = [f"{domain.hostname} of {target.label}: its nginx server block and "
                 "certificate leave the node; it stops answering"]
        if domain.id == target.env.primary_domain_id:
            after = f"https://{new_primary}" if new_primary else target.env.preview_url
            lines.append(f"it is the primary domain: WordPress's URLs are rewritten to "
                         f"{after}")
        lines.append("DNS is not changed: point it elsewhere yourself")
        self.confirm(f"Remove {domain.hostname}?", lines,
                     lambda: self._remove(target, domain, new_primary),
                     require_word=domain.hostname, danger=True)

    @in_worker("action")
    def _remove(self, target: Target, domain: DomainRecord, new_primary: str | None) -> None:
        job = self.core.domains.remove(self.token, target.site.id, domain.hostname,
                                       confirm=domain.hostname, new_primary=new_primary)
        self.tell(f"removing {domain.hostname} from {target.label}: {job.job_type} job "
                  f"{job.id[:8]} queued (see Jobs)")

    # -- certificates -----------------------------------------------------------------------

    @in_worker("action")
    def check_certificate_expiry(self) -> None:
        job = self.core.domains.check_expiry(self.token)
        self.tell(f"reading every certificate's expiry from its node: {job.job_type} job "
                  f"{job.id[:8]} queued (see Jobs)")

    @in_worker("action")
    def get_preview_certificate(self, node_id: str) -> None:
        """Nothing to confirm: getting the wildcard again only replaces it with a newer one
        (certbot keeps the old one until the new one is there)."""
        job = self.core.domains.preview_certificate(self.token, node_id)
        self.tell(f"getting the wildcard preview certificate: {job.job_type} job "
                  f"{job.id[:8]} queued (see Jobs)")
