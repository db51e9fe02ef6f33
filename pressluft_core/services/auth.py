"""Users, passwords and sessions.

Passwords are argon2id hashes. A session token is 256 random bits handed to the client
once; the database keeps only its SHA-256, so a leaked database does not leak sessions.
Failed logins are throttled per email with a delay that doubles after the third failure;
the throttle is kept in the database so it holds across CLI invocations and processes.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import argon2

from pressluft_core import validation
from pressluft_core.clock import new_id, parse_iso, to_iso
from pressluft_core.db import write_transaction
from pressluft_core.errors import AuthError, StateError, ValidationError
from pressluft_core.models import AuthSession, LoginThrottle, User
from pressluft_core.records import Actor, UserRecord, from_row
from pressluft_core.services.base import Runtime, write_audit

SESSION_LIFETIME = timedelta(hours=24)
FREE_FAILURES = 3
MAX_THROTTLE_SECONDS = 300
MIN_PASSWORD_LENGTH = 10

_hasher = argon2.PasswordHasher(type=argon2.Type.ID)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def throttle_delay(failed_count: int) -> int:
    """Seconds a caller must wait after ``failed_count`` consecutive failures."""
    if failed_count < FREE_FAILURES:
        return 0
    return min(2 ** (failed_count - FREE_FAILURES), MAX_THROTTLE_SECONDS)


class AuthService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    # -- users --------------------------------------------------------------------------

    def has_admin(self) -> bool:
        return User.select().where(User.role == "admin").exists()

    def create_admin(self, email: str, display_name: str, password: str) -> UserRecord:
        """Create the installation's admin. Only one admin exists for now (DESIGN.md §9)."""
        email = validation.email("email", email)
        display_name = validation.display_name("display_name", display_name)
        _check_password(password)
        password_hash = _hasher.hash(password)
        now = self.rt.now()
        with write_transaction(self.rt.db):
            existing = User.select().where(User.role == "admin").first()
            if existing is None:
                user_id = new_id()
                User.insert(id=user_id, email=email, display_name=display_name, role="admin",
                            password_hash=password_hash, is_active=True, created_at=now,
                            updated_at=now).execute()
                write_audit(self.rt, user_id, "admin.create", "user", user_id, "ok")
            else:
                # Committed with this transaction, not rolled back by the refusal below.
                write_audit(self.rt, existing.id, "admin.create", "user", "-",
                            "refused: an admin already exists")
        if existing is not None:
            raise StateError(
                f"an admin already exists ({existing.email}); Pressluft has one admin for now"
            )
        return from_row(UserRecord, User.get_by_id(user_id))

    # -- sessions -----------------------------------------------------------------------

    def login(self, email: str, password: str) -> tuple[str, UserRecord]:
        """Returns ``(token, user)``; the token is shown only here."""
        email = (email or "").strip().lower()
        now = self.rt.clock.now()
        throttle = LoginThrottle.get_or_none(LoginThrottle.email == email)
        if throttle is not None:
            wait = throttle_delay(throttle.failed_count)
            ready_at = parse_iso(throttle.last_failed_at) + timedelta(seconds=wait)
            if now < ready_at:
                seconds = int((ready_at - now).total_seconds()) + 1
                raise AuthError(
                    f"too many failed logins for {email}; try again in {seconds} s"
                )
        user = User.get_or_none(User.email == email)
        if user is None or not user.is_active or not _verify(user.password_hash, password):
            self._record_failure(email, user)
            raise AuthError("wrong email or password")
        token = secrets.token_urlsafe(32)
        with write_transaction(self.rt.db):
            LoginThrottle.delete().where(LoginThrottle.email == email).execute()
            session_id = new_id()
            AuthSession.insert(
                id=session_id, user_id=user.id, session_token=hash_token(token),
                expires_at=to_iso(now + SESSION_LIFETIME), created_at=to_iso(now),
            ).execute()
            write_audit(self.rt, user.id, "auth.login", "session", session_id, "ok")
        return token, from_row(UserRecord, user)

    def require(self, token: str | None) -> Actor:
        """The acting user of a live session, or :class:`AuthError`."""
        if not token:
            raise AuthError("not logged in: run `pressluft login`")
        session = AuthSession.get_or_none(AuthSession.session_token == hash_token(token))
        if session is None:
            raise AuthError("session not recognised: log in again")
        if session.revoked_at is not None:
            raise AuthError("session was logged out: log in again")
        if parse_iso(session.expires_at) <= self.rt.clock.now():
            raise AuthError("session expired: log in again")
        user = User.get_or_none(User.id == session.user_id)
        if user is None or not user.is_active:
            raise AuthError("user is disabled")
        return Actor(user_id=user.id, session_id=session.id, email=user.email, role=user.role)

    def logout(self, token: str) -> None:
        actor = self.require(token)
        with write_transaction(self.rt.db):
            AuthSession.update(revoked_at=self.rt.now()).where(
                AuthSession.id == actor.session_id).execute()
            write_audit(self.rt, actor.user_id, "auth.logout", "session", actor.session_id, "ok")

    def whoami(self, token: str) -> UserRecord:
        actor = self.require(token)
        return from_row(UserRecord, User.get_by_id(actor.user_id))

    # -- internals ----------------------------------------------------------------------

    def _record_failure(self, email: str, user: User | None) -> None:
        now = self.rt.now()
        with write_transaction(self.rt.db):
            updated = (LoginThrottle
                       .update(failed_count=LoginThrottle.failed_count + 1, last_failed_at=now)
                       .where(LoginThrottle.email == email).execute())
            if not updated:
                LoginThrottle.insert(email=email, failed_count=1, last_failed_at=now).execute()
            if user is not None:
                write_audit(self.rt, user.id, "auth.login", "user", user.id,
                            "refused: wrong password")


def _check_password(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False
