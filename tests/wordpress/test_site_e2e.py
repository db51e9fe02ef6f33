"""Site lifecycle end to end on this machine's real stack, through the services: create a
site and see WordPress answer through nginx with its title."""

from __future__ import annotations

from pressluft_core.models import Release, Site
from tests.wordpress.stack import Stack, http_get


def test_site_create_serves_wordpress_with_its_title(stack: Stack) -> None:
    job = stack.core.sites.create(stack.token, "Ünïcode & <Friends>", "friends",
                                  node=stack.node_name)
    done = stack.run(job.id)
    assert done.status == "succeeded", stack.log(job.id)
    env = stack.env("friends", "production")
    assert env.status == "active" and Site.get_by_id(env.site_id).status == "active"
    release = Release.get_by_id(env.current_release_id)
    assert release.health_status == "healthy"
    status, body = http_get(env.preview_url)
    assert status == 200, body[:500]
    assert "Ünïcode &amp; &lt;Friends&gt;".encode() in body or \
        "Ünïcode &#038; &lt;Friends&gt;".encode() in body, body[:2000]
    log = stack.log(job.id)
    password = stack.core.rt.secrets.get(f"env.{env.id}.wp_admin")
    assert password not in log
