"""Admin, passwords, sessions, logout and login throttling (DESIGN.md §9)."""

from __future__ import annotations

import base64
import hashlib
import itertools

import pytest

from pressluft_core.app import Pressluft
from pressluft_core.clock import ManualClock
from pressluft_core.errors import AuthError, StateError, ValidationError
from pressluft_core.services.auth import throttle_delay
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD


def _rows(core: Pressluft, sql: str, *params: object) -> list[tuple]:
    return [tuple(r) for r in core.db.execute_sql(sql, params or None).fetchall()]


def _audit(core: Pressluft, action: str) -> list[str]:
    p = core.db.param
    return [r[0] for r in _rows(
        core, f"SELECT result FROM audit_logs WHERE action = {p} ORDER BY created_at, id",
        action)]


@pytest.mark.real_argon2
def test_admin_create_stores_an_argon2id_hash(core: Pressluft) -> None:
    user = core.auth.create_admin("Admin@Example.com", "Ada Admin", ADMIN_PASSWORD)
    assert user.email == ADMIN_EMAIL
    assert user.role == "admin"
    (stored,) = _rows(core, "SELECT password_hash, role, is_active FROM users")
    password_hash, role, is_active = stored
    assert password_hash.startswith("$argon2id$")
    assert ADMIN_PASSWORD not in password_hash
    # Production cost, not the tests' cheap one: at least OWASP's 19 MiB, 2 passes.
    params = dict(p.split("=") for p in password_hash.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2
    assert (role, is_active) == ("admin", 1)
    assert _audit(core, "admin.create") == ["ok"]


def test_a_second_admin_is_refused(core: Pressluft) -> None:
    core.auth.create_admin(ADMIN_EMAIL, "Ada Admin", ADMIN_PASSWORD)
    with pytest.raises(StateError, match="admin already exists"):
        core.auth.create_admin("other@example.com", "Other", "another long password")
    assert _rows(core, "SELECT email FROM users") == [(ADMIN_EMAIL,)]
    results = sorted(_audit(core, "admin.create"))
    assert results == ["ok", "refused: an admin already exists"]


@pytest.mark.parametrize(("email", "name", "password", "field"), [
    ("not-an-email", "Ada", ADMIN_PASSWORD, "email"),
    (ADMIN_EMAIL, "", ADMIN_PASSWORD, "display_name"),
    (ADMIN_EMAIL, "Ada\nAdmin", ADMIN_PASSWORD, "display_name"),
    (ADMIN_EMAIL, "Ada", "short", "password"),
])
def test_admin_create_validates_input(
    core: Pressluft, email: str, name: str, password: str, field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        core.auth.create_admin(email, name, password)
    assert refused.value.field == field
    assert str(refused.value).startswith(f"{field}:")
    assert _rows(core, "SELECT COUNT(*) FROM users") == [(0,)]


def test_login_returns_a_256_bit_token_stored_only_hashed(core: Pressluft) -> None:
    core.auth.create_admin(ADMIN_EMAIL, "Ada Admin", ADMIN_PASSWORD)
    token, user = core.auth.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) == 32
    assert core.auth.require(token).user_id == user.id

    sessions = _rows(core, "SELECT session_token, expires_at, created_at, revoked_at "
                           "FROM auth_sessions")
    assert len(sessions) == 1
    stored, expires_at, created_at, revoked_at = sessions[0]
    assert stored != token
    assert token not in stored
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert (created_at, expires_at, revoked_at) == (
        "2026-03-01T12:00:00Z", "2026-03-02T12:00:00Z", None)
    # The raw token appears nowhere in the database.
    for table in ("auth_sessions", "audit_logs", "users"):
        for row in _rows(core, f"SELECT * FROM {table}"):
            assert token not in " ".join(map(str, row))

    other_token, _ = core.auth.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert other_token != token


def test_wrong_password_and_unknown_user_are_refused(core: Pressluft) -> None:
    core.auth.create_admin(ADMIN_EMAIL, "Ada Admin", ADMIN_PASSWORD)
    with pytest.raises(AuthError, match="wrong email or password"):
        core.auth.login(ADMIN_EMAIL, ADMIN_PASSWORD + "x")
    with pytest.raises(AuthError, match="wrong email or password"):
        core.auth.login("nobody@example.com", ADMIN_PASSWORD)
    assert _rows(core, "SELECT COUNT(*) FROM auth_sessions") == [(0,)]
    assert _audit(core, "auth.login") == ["refused: wrong password"]


def test_session_expires_after_24_hours(core: Pressluft, clock: ManualClock) -> None:
    core.auth.create_admin(ADMIN_EMAIL, "Ada Admin", ADMIN_PASSWORD)
    token, _ = core.auth.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    clock.advance(hours=23, minutes=59, seconds=59)
    assert core.auth.require(token).email == ADMIN_EMAIL
    clock.advance(seconds=2)  # 24 h + 1 s after login
    with pytest.raises(AuthError, match="expired"):
        core.auth.require(token)
    with pytest.raises(AuthError, match="expired"):
        core.sites.list(token)


def test_logout_revokes_the_session(core: Pressluft, clock: ManualClock) -> None:
    core.auth.create_admin(ADMIN_EMAIL, "Ada Admin", ADMIN_PASSWORD)
    token, _ = core.auth.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    other, _ = core.auth.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    clock.advance(minutes=3)
    core.auth.logout(token)
    with pytest.raises(AuthError, match="logged out"):
        core.auth.require(token)
    with pytest.raises(AuthError):
        core.nodes.list(token)
    with pytest.raises(AuthError):
        core.auth.logout(token)
    assert core.auth.require(other).email == ADMIN_EMAIL  # only that session ended
    p = core.db.param
    assert _rows(core, f"SELECT revoked_at FROM auth_sessions WHERE session_token = {p}",
                 hashlib.sha256(token.encode()).hexdigest()) == [("2026-03-01T12:03:00Z",)]
    assert _audit(core, "auth.logout") == ["ok"]


@pytest.mark.parametrize("token", ["", None, "made-up-token", "0" * 64])
def test_services_refuse_a_missing_or_unknown_session(
    core: Pressluft, token: str | None
) -> None:
    core.auth.create_admin(ADMIN_EMAIL, "Ada Admin", ADMIN_PASSWORD)
    with pytest.raises(AuthError):
        core.sites.list(token)  # type: ignore[arg-type]
    with pytest.raises(AuthError):
        core.nodes.register(token, "n1", "n1.example.com")  # type: ignore[arg-type]
    assert _rows(core, "SELECT COUNT(*) FROM nodes") == [(0,)]


def test_failed_logins_are_slowed_down(core: Pressluft, clock: ManualClock) -> None:
    core.auth.create_admin(ADMIN_EMAIL, "Ada Admin", ADMIN_PASSWORD)
    for _ in range(3):
        with pytest.raises(AuthError, match="wrong email or password"):
            core.auth.login(ADMIN_EMAIL, "wrong password!")
    # Inside the delay even the right password is refused, and says why.
    with pytest.raises(AuthError, match="too many failed logins"):
        core.auth.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    with pytest.raises(AuthError, match="too many failed logins"):
        core.auth.login(ADMIN_EMAIL.upper(), ADMIN_PASSWORD)  # same account, other spelling
    assert _rows(core, "SELECT COUNT(*) FROM auth_sessions") == [(0,)]

    # The delay grows: one more failure after the first wait makes the next wait longer.
    clock.advance(seconds=throttle_delay(3))
    with pytest.raises(AuthError, match="wrong email or password"):
        core.auth.login(ADMIN_EMAIL, "wrong password!")
    assert throttle_delay(4) > throttle_delay(3)
    clock.advance(seconds=throttle_delay(3))
    with pytest.raises(AuthError, match="too many failed logins"):
        core.auth.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    clock.advance(seconds=throttle_delay(4) - throttle_delay(3))
    token, _ = core.auth.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert core.auth.require(token).email == ADMIN_EMAIL

    # A success clears the slate: the next failure is free again.
    with pytest.raises(AuthError, match="wrong email or password"):
        core.auth.login(ADMIN_EMAIL, "wrong password!")
    core.auth.login(ADMIN_EMAIL, ADMIN_PASSWORD)


def test_throttle_is_per_email(core: Pressluft) -> None:
    core.auth.create_admin(ADMIN_EMAIL, "Ada Admin", ADMIN_PASSWORD)
    for _ in range(5):
        with pytest.raises(AuthError):
            core.auth.login("attacker-target@example.com", "guess")
    token, _ = core.auth.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert token


def test_throttle_delay_grows_and_is_capped() -> None:
    delays = [throttle_delay(n) for n in range(0, 20)]
    assert delays[:3] == [0, 0, 0]
    assert all(b >= a for a, b in itertools.pairwise(delays))
    assert delays[4] > delays[3] > 0
    assert max(delays) <= 300
