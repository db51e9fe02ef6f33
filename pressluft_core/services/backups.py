"""Backups of environments: taking one, listing them, restoring one into any environment
of its site, cleaning up expired ones, and testing the storage they go to."""

from __future__ import annotations

import uuid

from pressluft_core import validation
from pressluft_core.backups.rows import new_backup_row
from pressluft_core.errors import NotFoundError, PressluftError, StateError, ValidationError
from pressluft_core.models import Backup, Environment
from pressluft_core.preview import configured_preview_domain
from pressluft_core.records import Actor, BackupRecord, JobRecord, from_row
from pressluft_core.services import jobs
from pressluft_core.services.base import Service, mutation
from pressluft_core.services.environments import environment_filter, find_environment
from pressluft_core.services.storage import StorageConfig

SCOPES = ("db", "files", "full")


class StorageError(PressluftError):
    exit_status = 1


class BackupsService(Service):
    @mutation("backup.create", "environment", resource_id=lambda job: job.environment_id,
              target="env_ref")
    def create(self, actor: Actor, site_ref: str, env_ref: str, scope: str = "full"
               ) -> JobRecord:
        env = find_environment(site_ref, env_ref)
        scope = validation.one_of("scope", scope, SCOPES)
        if env.current_release_id is None:
            raise StateError(f"environment {env.slug} has nothing to back up yet")
        backup = new_backup_row(self.rt, env, scope)
        return jobs.enqueue(self.rt, "backup_create", site_id=env.site_id,
                            environment_id=env.id, node_id=env.node_id,
                            payload={"backup_id": backup.id})

    def list(self, token: str, site_ref: str | None = None, env_ref: str | None = None
             ) -> list[BackupRecord]:
        """Newest first."""
        self.auth.require(token)
        query = Backup.select()
        limit = environment_filter(Backup.environment_id, site_ref, env_ref,
                                   include_deleted=True)
        if limit is not None:
            query = query.where(limit)
        return [from_row(BackupRecord, b) for b in
                query.order_by(Backup.created_at.desc(), Backup.id.desc())]

    @mutation("backup.restore", "environment", resource_id=lambda job: job.environment_id,
              target="backup_ref")
    def restore(self, actor: Actor, backup_ref: str, *, site_ref: str | None = None,
                target_env: str | None = None) -> JobRecord:
        """Queue ``env_restore`` of a completed backup into its own environment or
        ``target_env`` of the same site; a full pre-restore backup of the target is part
        of the job (its row is made now, so the operator sees where it will be)."""
        backup = find_backup(backup_ref)
        if backup.status != "completed":
            raise StateError(f"backup {backup.id[:8]} is {backup.status}; only completed "
                             "backups can be restored")
        source = Environment.get_by_id(backup.environment_id)
        target = find_environment(site_ref or source.site_id, target_env) if target_env \
            else source
        if target.site_id != source.site_id:
            raise ValidationError("target_env", "a backup restores only into environments "
                                                "of its own site")
        if target.status != "active" or target.current_release_id is None:
            raise StateError(f"environment {target.slug} is {target.status}: a restore "
                             "needs an active environment with a release")
        pre = new_backup_row(self.rt, target, "full")
        return jobs.enqueue(self.rt, "env_restore", site_id=target.site_id,
                            environment_id=target.id, node_id=target.node_id,
                            payload={"backup_id": backup.id, "pre_restore_backup_id": pre.id},
                            max_attempts=2)

    @mutation("backup.verify", "environment", resource_id=lambda job: job.environment_id,
              target="backup_ref")
    def verify(self, actor: Actor, backup_ref: str) -> JobRecord:
        """Queue a restore drill: the backup restored into a throwaway environment on the
        same node, health-checked, the throwaway deleted; the verdict lands on the backup."""
        backup = find_backup(backup_ref)
        if backup.status != "completed":
            raise StateError(f"backup {backup.id[:8]} is {backup.status}; only completed "
                             "backups can be verified")
        env = Environment.get_by_id(backup.environment_id)
        configured_preview_domain()  # the throwaway gets a preview URL: refused as a clone is
        return jobs.enqueue(self.rt, "backup_verify", site_id=env.site_id,
                            environment_id=env.id, node_id=env.node_id,
                            payload={"backup_id": backup.id}, max_attempts=1)

    @mutation("backup.cleanup", "backup", resource_id=lambda job: job.id)
    def cleanup(self, actor: Actor) -> JobRecord:
        return jobs.enqueue(self.rt, "backup_cleanup", payload={}, max_attempts=3)

    @mutation("storage.test", "settings", resource_id=lambda result: "storage")
    def test_storage(self, actor: Actor) -> str:
        """Write, read back and delete a probe object; one sentence naming what is wrong
        (credentials, bucket, endpoint) when that fails."""
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

        config = StorageConfig.from_settings(self.rt)
        key = "/".join(p for p in (config.prefix, f".pressluft-probe-{uuid.uuid4().hex}")
                       if p)
        where = f"bucket {config.bucket!r} at {config.endpoint_url or 'AWS S3'}"
        client = config.client()
        body = b"pressluft storage probe\n"
        try:
            client.put_object(Bucket=config.bucket, Key=key, Body=body)
            read = client.get_object(Bucket=config.bucket, Key=key)["Body"].read()
            client.delete_object(Bucket=config.bucket, Key=key)
        except EndpointConnectionError:
            raise StorageError(f"cannot reach {config.endpoint_url or 'AWS S3'}: check "
                               "s3_endpoint_url and that the endpoint is up") from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "NoSuchBucket":
                raise StorageError(f"{where} does not exist: create it or fix s3_bucket"
                                   ) from None
            if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied",
                        "403", "InvalidToken"):
                raise StorageError(f"{where} refused the credentials ({code}): check "
                                   "s3_access_key_id and s3_secret_access_key") from None
            raise StorageError(f"{where}: {code or exc}") from None
        except BotoCoreError as exc:
            raise StorageError(f"{where}: {exc}") from None
        if read != body:
            raise StorageError(f"{where} returned different bytes for the probe object")
        return f"{where}: write, read and delete of a probe object succeeded"


def find_backup(ref: str) -> Backup:
    """By id or a unique prefix of at least 6 characters."""
    if not isinstance(ref, str) or len(ref) < 6:
        raise ValidationError("backup", "give the backup id or at least 6 characters of it")
    found = list(Backup.select().where(Backup.id.startswith(ref)).limit(2))
    if not found:
        raise NotFoundError(f"no backup {ref!r}: see `pressluft backup list`")
    if len(found) > 1:
        raise ValidationError("backup", f"{ref!r} matches several backups; give more of it")
    return found[0]
