"""The seed schema's enums, as the single list every check reads from."""

from __future__ import annotations

SITE_STATUS = ("active", "cloning", "deploying", "restoring", "failed")
ENVIRONMENT_TYPE = ("production", "staging", "clone")
ENVIRONMENT_STATUS = ("active", "cloning", "deploying", "restoring", "failed")
NODE_STATUS = ("active", "provisioning", "unreachable", "decommissioned")
RELEASE_SOURCE_TYPE = ("git", "upload")
RELEASE_HEALTH_STATUS = ("unknown", "healthy", "unhealthy")
BACKUP_SCOPE = ("db", "files", "full")
BACKUP_STATUS = ("pending", "running", "completed", "failed", "expired")
STORAGE_TYPE = ("s3",)
TLS_STATUS = ("pending", "active", "failed", "disabled")
JOB_STATUS = ("queued", "running", "succeeded", "failed", "cancelled")
USER_ROLE = ("admin",)
PROMOTION_PRESET = ("content-protect", "commerce-protect")
DRIFT_STATUS = ("unknown", "clean", "drifted")
