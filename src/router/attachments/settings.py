"""The attachment settings, part of `router.settings.Settings` (prefix `ROUTER_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from router.attachments.inspection import DEFAULT_ALLOWED_TYPES, AttachmentRules


class AttachmentSettings(BaseSettings):
    """Where attachment bytes live, what is kept, and how provider media is fetched."""

    attachments_dir: Path | None = Field(
        default=None,
        description="Folder of the attachment blob store; unset: `blobs` under the data folder",
    )
    attachment_max_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1, description="Largest attachment kept (bytes)"
    )
    attachment_allowed_types: str = Field(
        default=DEFAULT_ALLOWED_TYPES,
        description="Content types kept, comma-separated patterns (`audio/*`); others stay"
        " metadata",
    )
    attachment_fetch_attempts: int = Field(
        default=6, ge=1, le=20, description="Tries to fetch a provider-hosted attachment"
    )
    attachment_fetch_retry_base_seconds: float = Field(
        default=2.0, gt=0, description="First wait before fetching a failed attachment again"
    )
    attachment_fetch_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often the fetcher looks for pending attachments"
    )
    attachment_link_seconds: int = Field(
        default=3600,
        ge=60,
        description="How long a signed file link handed to a provider (`/files/...`) works",
    )
    attachment_link_secret: SecretStr | None = Field(
        default=None,
        description="Key signing file links; unset: a random key per start (links die with it)",
    )

    def blobs_folder(self, data_dir: Path) -> Path:
        """The blob store's folder: the one configured, else `blobs` under `data_dir`."""
        return self.attachments_dir or data_dir / "blobs"

    def attachment_rules(self) -> AttachmentRules:
        """The size limit and the allowed types, parsed."""
        return AttachmentRules.parse(self.attachment_max_bytes, self.attachment_allowed_types)
