"""Configuration: environment variables with the prefix `ROUTER_`."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from router.attachments.settings import AttachmentSettings
from router.auth.algorithms import DEFAULT_ALGORITHMS, VERIFIERS, load_public_key, verifies
from router.channels import DEFAULT_JOIN_RULES, Channel, JoinRule
from router.masking import MASK, mask_url

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class Settings(AttachmentSettings, BaseSettings):
    """Every knob of the router; `router config` prints the effective values."""

    model_config = SettingsConfigDict(env_prefix="ROUTER_", extra="ignore")

    # Storage and transport. Unset means the embedded defaults: an embedded PostgreSQL with
    # its data under `data_dir`, and the inline transport that routes inside the request.
    database_url: SecretStr | None = Field(
        default=None, description="PostgreSQL URL (postgresql+asyncpg://...); unset: embedded"
    )
    data_dir: Path = Field(
        default=Path("var"), description="Folder for the embedded PostgreSQL's data"
    )
    migrate_on_start: bool = Field(
        default=False, description="Apply migrations on start (always on for embedded)"
    )
    database_pool_size: int = Field(default=10, ge=1, description="Connections per process")
    kafka_bootstrap_servers: str | None = Field(
        default=None, description="Kafka brokers, comma-separated; unset: inline transport"
    )
    kafka_client_id: str = Field(default="router", description="Kafka client id")
    topic_inbound: str = Field(default="router.inbound.v1", description="Inbound events topic")
    topic_events: str = Field(default="router.events.v1", description="Conversation events topic")
    topic_dlq: str = Field(default="router.inbound.dlq.v1", description="Dead-letter topic")
    topic_partitions: int = Field(default=12, ge=1, description="Partitions of created topics")
    topic_replication_factor: int = Field(default=1, ge=1, description="Replicas of topics")
    consumer_group: str = Field(default="router", description="Routing engine consumer group")
    consumer_max_batch: int = Field(default=500, ge=1, description="Records per applied batch")
    consumer_fetch_min_bytes: int = Field(
        default=64 * 1024,
        ge=1,
        description="Bytes a consumer fetch waits for (up to the fetch wait) before answering",
    )
    consumer_fetch_max_wait_ms: int = Field(
        default=100,
        ge=0,
        le=60_000,
        description="Longest a consumer fetch waits on the broker for its minimum bytes",
    )
    consumer_heartbeat_ms: int = Field(
        default=1_000,
        ge=100,
        le=3_000,
        description="How often a consumer tells the group it lives, and learns of a rebalance",
    )
    consumer_niceness: int = Field(
        default=0,
        ge=0,
        le=19,
        description="CPU niceness `router consume` gives itself (on a shared host: webhooks first)",
    )
    consumer_backoff_initial_seconds: float = Field(
        default=0.1,
        gt=0,
        description="Longest first wait before a consumer retries a batch the database or broker "
        "failed (each delay is random up to this; the limit doubles per failure)",
    )
    consumer_backoff_max_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Cap on a consumer's wait between retries while the database or broker is out",
    )
    publish_linger_ms: int = Field(
        default=5,
        ge=0,
        le=1000,
        description="How long a webhook's event waits for others to share its produce request",
    )
    publish_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Deadline for the broker to acknowledge a webhook's event"
    )

    # Routing.
    offer_timeout_seconds: float = Field(
        default=60.0, gt=0, description="How long an agent has to accept an offer"
    )
    offer_exclusion_seconds: float = Field(
        default=300.0,
        gt=0,
        description=(
            "How long an agent who declined, let an offer lapse or transferred a conversation"
            " away is left out of its offers; then they are eligible again"
        ),
    )
    continuity_window_minutes: int = Field(
        default=24 * 60,
        ge=0,
        description=(
            "A new thread joins the customer's open conversation active within this (where"
            " its channel's rule in join_open_conversation says it joins)"
        ),
    )
    join_open_conversation: Annotated[dict[Channel, JoinRule], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_JOIN_RULES),
        description=(
            "Per channel, whether a new thread joins the customer's open conversation:"
            " `channel=rule` pairs, comma-separated (same-channel, any-channel, never);"
            " channels not named keep their defaults"
        ),
    )
    sticky_owner_hours: int = Field(
        default=7 * 24,
        ge=0,
        description=(
            "A returning customer's new conversation is offered first to the agent who last"
            " owned one of theirs active within this, when eligible (0: off)"
        ),
    )
    reopen_window_hours: int = Field(
        default=7 * 24,
        ge=0,
        description="A message on a resolved conversation's thread reopens it within this",
    )
    sweep_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often lapsed offers and waiting queues are swept"
    )
    sla_at_risk_seconds: int = Field(
        default=900,
        ge=0,
        le=30 * 24 * 3600,
        description=(
            "How long before an SLA clock falls due `sla.at_risk` is published, unless its"
            " policy sets at_risk_seconds"
        ),
    )

    # HTTP.
    http_host: str = Field(default="127.0.0.1", description="Address `router serve` binds")
    http_port: int = Field(default=8000, ge=0, le=65535, description="Port `router serve` binds")
    public_base_url: str | None = Field(
        default=None,
        description=(
            "URL providers and callers see (behind a proxy); used to check URL-signed webhooks"
            " and as the base of problem `type` URIs (else they are relative: /problems/...)"
        ),
    )

    serve_with_consumer: bool = Field(
        default=False, description="`router serve` also runs the routing engine in-process"
    )
    shutdown_grace_seconds: float = Field(
        default=20.0, gt=0, description="Time to finish in-flight work on SIGTERM"
    )

    # Webhooks.
    webhook_max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest webhook body accepted"
    )
    email_max_body_bytes: int = Field(
        default=25 * 1024 * 1024, ge=1024, description="Largest inbound email (with attachments)"
    )
    replay_window_seconds: int = Field(
        default=300, ge=1, description="How old a signed timestamp may be before it is refused"
    )
    sendgrid_inbound_token: SecretStr | None = Field(
        default=None, description="Shared secret SendGrid Inbound Parse presents (basic auth)"
    )
    mailgun_signing_key: SecretStr | None = Field(
        default=None, description="Mailgun webhook signing key"
    )
    postmark_inbound_token: SecretStr | None = Field(
        default=None, description="Shared secret Postmark inbound presents (basic auth)"
    )
    webchat_secret: SecretStr | None = Field(
        default=None, description="HMAC secret shared with the web-chat widget backend"
    )
    feedback_link_secret: SecretStr | None = Field(
        default=None,
        description=(
            "HMAC secret of the links to the survey page sent on email and web chat; unset:"
            " no survey there"
        ),
    )
    feedback_sweep_seconds: float = Field(
        default=2.0, gt=0, description="How often delayed surveys and thank-you messages are sent"
    )
    reports_refresh_seconds: float = Field(
        default=30.0,
        gt=0,
        description=(
            "How often the sweep consumes the changes noted since and computes the report"
            " days not kept yet"
        ),
    )
    reports_refresh_budget_seconds: float = Field(
        default=2.0,
        gt=0,
        description="The most time one refresh spends computing report days; the rest waits",
    )
    reports_keep_days: int = Field(
        default=200,
        ge=1,
        le=3660,
        description="How many past days of each report view are kept for the reports",
    )
    meta_app_secret: SecretStr | None = Field(
        default=None, description="Meta app secret (X-Hub-Signature-256)"
    )
    meta_verify_token: SecretStr | None = Field(
        default=None, description="Token Meta echoes in the GET verification handshake"
    )
    twilio_auth_token: SecretStr | None = Field(
        default=None, description="Twilio auth token (X-Twilio-Signature)"
    )

    # Console API.
    console_max_wait_seconds: float = Field(
        default=30.0, gt=0, le=300, description="Longest long-poll `wait` a console may ask for"
    )
    console_recheck_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A waiting long-poll rechecks this often even when no change is announced",
    )

    api_max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest request body of the /v1 API"
    )
    poll_rate_per_minute: int = Field(
        default=120, ge=1, description="Work-list polls per minute and key (bursts of 30)"
    )
    reply_rate_per_minute: int = Field(
        default=60, ge=1, description="Replies per minute and key (bursts of 20)"
    )

    # Identity provider tokens (JWT) on the console API, beside API keys. Off unless an
    # issuer, an audience and either a JWKS URL or a public key are set.
    jwt_issuer: str | None = Field(
        default=None, description="Issuer (`iss`) of accepted identity provider tokens"
    )
    jwt_audience: str | None = Field(
        default=None, description="Audience (`aud`) a token must name to be accepted here"
    )
    jwt_jwks_url: str | None = Field(
        default=None, description="The identity provider's JWKS URL (https; http on loopback)"
    )
    jwt_public_key: str | None = Field(
        default=None, description="PEM public key that signs the tokens (instead of a JWKS URL)"
    )
    jwt_algorithms: str = Field(
        default=",".join(DEFAULT_ALGORITHMS),
        description="Accepted signing algorithms, comma-separated (asymmetric only)",
    )
    jwt_role_claim: str = Field(
        default="router_role", min_length=1, description="Claim carrying the router role"
    )
    jwt_agent_claim: str = Field(
        default="router_agent", min_length=1, description="Claim naming the agent's handle"
    )
    jwt_leeway_seconds: int = Field(
        default=30, ge=0, le=300, description="Clock skew allowed on exp, nbf and iat"
    )
    jwt_jwks_cache_seconds: float = Field(
        default=300.0, gt=0, description="How long fetched keys are used before a new fetch"
    )
    jwt_jwks_refetch_seconds: float = Field(
        default=30.0,
        ge=0,
        description="Shortest time between two JWKS fetches (unknown key ids, failed fetches)",
    )

    # Outbound replies.
    outbound_email_base_url: str = Field(
        default="https://api.postmarkapp.com", description="Email provider API (Postmark)"
    )
    outbound_email_token: SecretStr | None = Field(
        default=None, description="Postmark server token; unset: email replies are refused"
    )
    outbound_email_message_stream: str = Field(
        default="outbound", description="Postmark message stream for replies"
    )
    outbound_sendgrid_base_url: str = Field(
        default="https://api.sendgrid.com", description="SendGrid v3 API (mail send)"
    )
    outbound_sendgrid_api_key: SecretStr | None = Field(
        default=None, description="SendGrid API key; set: SendGrid's inbound mail is answered there"
    )
    outbound_mailgun_base_url: str = Field(
        default="https://api.mailgun.net", description="Mailgun API (api.eu.mailgun.net in the EU)"
    )
    outbound_mailgun_api_key: SecretStr | None = Field(
        default=None, description="Mailgun API key; set: Mailgun's inbound mail is answered there"
    )
    outbound_mailgun_domain: str | None = Field(
        default=None, description="Mailgun sending domain; unset: the replying address's domain"
    )
    outbound_smtp_host: str | None = Field(
        default=None, description="The company's own mail server for email replies; unset: none"
    )
    outbound_smtp_port: int = Field(default=587, ge=1, le=65535, description="Its SMTP port")
    outbound_smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="starttls (submission, 587), tls (implicit TLS, 465) or none (a trusted relay)",
    )
    outbound_smtp_username: str | None = Field(
        default=None, description="SMTP login; unset: send without authenticating"
    )
    outbound_smtp_password: SecretStr | None = Field(default=None, description="SMTP password")
    email_message_id_domain: str | None = Field(
        default=None,
        description="Domain of the Message-ID of mail we send; unset: the replying address's",
    )
    postmark_events_token: SecretStr | None = Field(
        default=None,
        description="Password Postmark's delivery and bounce webhooks present (basic auth)",
    )
    sendgrid_events_public_key: str | None = Field(
        default=None,
        description="SendGrid event webhook verification key (base64 DER public key, ECDSA)",
    )
    outbound_meta_base_url: str = Field(
        default="https://graph.facebook.com/v21.0", description="Meta Graph API, with version"
    )
    outbound_whatsapp_token: SecretStr | None = Field(
        default=None, description="WhatsApp Cloud API access token; unset: no WhatsApp replies"
    )
    outbound_meta_page_token: SecretStr | None = Field(
        default=None, description="Page access token for Messenger and Instagram replies"
    )
    outbound_twilio_base_url: str = Field(
        default="https://api.twilio.com", description="Twilio REST API"
    )
    outbound_twilio_account_sid: str | None = Field(
        default=None, description="Twilio account SID (with ROUTER_TWILIO_AUTH_TOKEN) for SMS"
    )
    outbound_twilio_content_sids: dict[str, str] = Field(
        default_factory=dict,
        description="WhatsApp templates sent through Twilio: a JSON object from"
        " `name:language` (or `name` for every language) to the Content template's ContentSid",
    )
    outbound_attempts: int = Field(
        default=4, ge=1, le=10, description="Attempts to hand a reply to its provider"
    )
    outbound_retry_base_seconds: float = Field(
        default=0.5, gt=0, description="First back-off between attempts (doubles each time)"
    )
    outbound_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Deadline of one call to a provider's API"
    )

    consumer_http_port: int = Field(
        default=8001,
        ge=0,
        le=65535,
        description="Port of `router consume`'s /healthz, /readyz and /metrics (0: any free)",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token /metrics asks for (unset: open to whoever reaches its port)",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Serve `router serve`'s /metrics on this port only, not on the API's port",
    )
    log_json: bool = Field(default=True, description="Log JSON lines (false: plain text)")
    log_level: LogLevel = Field(default="INFO", description="Log level")
    log_bodies: bool = Field(
        default=False, description="Log message bodies and addresses (debugging only)"
    )

    @field_validator("database_url")
    @classmethod
    def _postgresql_url(cls, value: SecretStr | None) -> SecretStr | None:
        scheme = value.get_secret_value().partition("://")[0] if value else "postgresql"
        if scheme not in ("postgresql", "postgres", "postgresql+asyncpg"):
            raise ValueError("must be a postgresql:// or postgresql+asyncpg:// URL")
        return value

    @field_validator("join_open_conversation", mode="before")
    @classmethod
    def _join_rules(cls, value: object) -> object:
        """`chat=same-channel,email=never` over the defaults; a mapping as given."""
        if isinstance(value, dict):
            return {**DEFAULT_JOIN_RULES, **value}
        if not isinstance(value, str):
            return value
        rules = {channel.value: rule.value for channel, rule in DEFAULT_JOIN_RULES.items()}
        for pair in (item.strip() for item in value.split(",")):
            if not pair:
                continue
            channel, _, rule = (part.strip() for part in pair.partition("="))
            if channel not in Channel.__members__.values():
                raise ValueError(
                    f"{pair!r}: no channel {channel!r}; choose from {', '.join(Channel)}"
                )
            if rule not in JoinRule.__members__.values():
                raise ValueError(f"{pair!r}: the rule is one of {', '.join(JoinRule)}")
            rules[channel] = rule
        return rules

    @field_validator("jwt_algorithms")
    @classmethod
    def _asymmetric_algorithms(cls, value: str) -> str:
        names = list(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))
        if not names:
            raise ValueError("name at least one algorithm")
        refused = [name for name in names if name not in VERIFIERS]
        if refused:
            raise ValueError(
                f"{', '.join(refused)} not accepted; choose from {', '.join(VERIFIERS)}"
                " (`none` and HMAC never are)"
            )
        return ",".join(names)

    @field_validator("jwt_jwks_url")
    @classmethod
    def _jwks_over_https(cls, value: str | None) -> str | None:
        if not value:
            return value
        url = urlsplit(value)
        if url.scheme not in ("https", "http") or not url.hostname:
            raise ValueError("must be an https:// URL")
        if url.scheme == "http" and not _loopback(url.hostname):
            raise ValueError("must be https (keys fetched over plain http can be swapped)")
        return value

    @field_validator("jwt_public_key")
    @classmethod
    def _readable_public_key(cls, value: str | None) -> str | None:
        if value:
            load_public_key(value)
        return value

    @model_validator(mode="after")
    def _identity_provider_complete(self) -> Settings:
        if self.jwt_jwks_url and self.jwt_public_key:
            raise ValueError("set ROUTER_JWT_JWKS_URL or ROUTER_JWT_PUBLIC_KEY, not both")
        if not (self.jwt_issuer or self.jwt_audience or self.jwt_jwks_url or self.jwt_public_key):
            return self
        missing: list[str] = []
        if not self.jwt_issuer:
            missing.append("ROUTER_JWT_ISSUER")
        if not self.jwt_audience:
            missing.append("ROUTER_JWT_AUDIENCE")
        if not (self.jwt_jwks_url or self.jwt_public_key):
            missing.append("ROUTER_JWT_JWKS_URL or ROUTER_JWT_PUBLIC_KEY")
        if missing:
            raise ValueError(
                f"JWT login is half configured: {' and '.join(missing)} missing (set "
                "ROUTER_JWT_ISSUER, ROUTER_JWT_AUDIENCE and ROUTER_JWT_JWKS_URL or "
                "ROUTER_JWT_PUBLIC_KEY, or none of them)"
            )
        if self.jwt_public_key:
            key = load_public_key(self.jwt_public_key)
            if not any(verifies(name, key) for name in self.jwt_algorithm_names()):
                raise ValueError(
                    "ROUTER_JWT_PUBLIC_KEY verifies none of ROUTER_JWT_ALGORITHMS "
                    f"({self.jwt_algorithms})"
                )
        return self

    def jwt_algorithm_names(self) -> tuple[str, ...]:
        """The accepted signing algorithms, in the order configured."""
        return tuple(self.jwt_algorithms.split(","))

    def jwt_enabled(self) -> bool:
        """Identity provider tokens are accepted (issuer, audience and keys configured)."""
        return bool(
            self.jwt_issuer and self.jwt_audience and (self.jwt_jwks_url or self.jwt_public_key)
        )

    def database_is_embedded(self) -> bool:
        return self.database_url is None

    def transport_is_kafka(self) -> bool:
        return bool(self.kafka_bootstrap_servers)

    def effective(self) -> dict[str, Any]:
        """The settings as `router config` shows them, secrets masked (in URLs too)."""
        shown: dict[str, Any] = {}
        for name, value in self:
            key = f"ROUTER_{name.upper()}"
            if isinstance(value, SecretStr):
                secret = value.get_secret_value()
                shown[key] = mask_url(secret) if "://" in secret else MASK
            elif isinstance(value, str) and "://" in value:
                shown[key] = mask_url(value)
            elif value is None:
                shown[key] = None
            else:
                shown[key] = str(value) if isinstance(value, Path) else value
        return shown


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
