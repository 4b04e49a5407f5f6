"""The bridge's one settings class.

It accepts the deployment's existing environment as it is: any letter case,
from the process environment or a ``.env`` file, unknown keys ignored (the old
bridge died in a restart loop because its settings forbade them).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bridge_service.storage.url import parse_database_url

LogLevel = Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]
SECRET_FIELDS = (
    "database_url",
    "redis_url",
    "oura_webhook_secret",
    "whoop_webhook_secret",
    "healthkit_webhook_secret",
    "oura_verification_token",
)


class Settings(BaseSettings):
    """Configuration of one bridge process (environment variables, case-insensitive)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        hide_input_in_errors=True,
        populate_by_name=True,
    )

    service_name: str = "biometric-bridge"
    """Name in logs and /health."""
    log_level: LogLevel = "INFO"
    """Log level; any letter case."""
    host: str = "0.0.0.0"
    """Address to listen on."""
    port: int = Field(default=8889, ge=1, le=65535)
    """TCP port to listen on."""
    workers: int = Field(default=1, ge=1, le=64)
    """uvicorn worker processes."""
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Allowed CORS origins: a JSON list or a comma-separated list."""

    database_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("database_url", "postgres_url")
    )
    """PostgreSQL DSN (DATABASE_URL or POSTGRES_URL); unset: embedded SQLite in data_dir."""
    redis_url: SecretStr | None = None
    """Redis for the de-duplication fast path; unset: fast path off."""
    kafka_bootstrap_servers: str | None = None
    """Kafka bootstrap servers; unset: events wait in the outbox."""
    kafka_topic: str = "biometric-events"
    """Topic normalised events are published to."""
    terra_topic: str = "terra-biometric-events"
    """Topic Terra records are consumed from."""
    terra_consumer_group: str = "auren-bridge-terra"
    """Consumer group of the Terra consumer."""
    terra_consumer_enabled: bool = True
    """Consume Terra records when Kafka is configured."""
    data_dir: Path = Path("data")
    """Where the embedded SQLite database lives."""

    oura_webhook_secret: SecretStr | None = None
    """Oura client secret(s), comma separated for rotation."""
    whoop_webhook_secret: SecretStr | None = None
    """WHOOP client secret(s), comma separated."""
    healthkit_webhook_secret: SecretStr | None = None
    """HealthKit app signing secret(s) (whsec_…), comma separated."""
    oura_verification_token: SecretStr | None = None
    """Token Oura sends when verifying a subscription."""

    max_concurrent_webhooks: int = Field(default=100, ge=1)
    """Webhooks processed at once; more get 503 with Retry-After."""
    signature_tolerance_seconds: int = Field(default=300, ge=1)
    """Accepted clock difference of webhook timestamps, either way."""
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    """Largest webhook body accepted (413 above)."""
    max_header_count: int = Field(default=100, ge=16, le=10_000)
    """Most request headers accepted (431 and the connection closed above)."""
    max_header_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    """Largest request line plus headers, in bytes (431 and closed above)."""
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    """Time a new connection (or request) has to send complete headers (408 after)."""
    body_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    """Time a request has to send its whole body once its headers are in (408 after)."""
    keep_alive_seconds: float = Field(default=5.0, ge=1, le=300)
    """Idle keep-alive connections are closed after this long."""
    dedup_ttl_seconds: int = Field(default=96 * 3600, ge=96 * 3600)
    """How long the Redis fast path remembers an event id (at least 96 h)."""
    publish_timeout_seconds: float = Field(default=10.0, gt=0)
    """Bound on every Kafka call."""
    breaker_failure_threshold: int = Field(default=3, ge=1)
    """Consecutive publish failures that open the circuit."""
    breaker_reset_seconds: float = Field(default=5.0, gt=0)
    """How long the circuit stays open before one trial publish."""
    relay_batch_size: int = Field(default=500, ge=1)
    """Outbox rows published per batch."""
    relay_poll_seconds: float = Field(default=0.2, gt=0)
    """How often the relay looks for rows written by other processes."""
    migrate_on_start: bool = True
    """Apply pending schema migrations at start-up."""

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            # ValueError's text never quotes the URL (it may hold a password).
            parse_database_url(value.get_secret_value())
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    def secrets_for(self, source: str) -> list[bytes]:
        """The configured secrets of one provider (several during rotation)."""
        value: SecretStr | None = getattr(self, f"{source}_webhook_secret", None)
        if value is None:
            return []
        return [s.strip().encode() for s in value.get_secret_value().split(",") if s.strip()]

    def masked(self) -> dict[str, object]:
        """The effective configuration with every secret reduced to a hint."""
        out: dict[str, object] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                out[name] = mask(value.get_secret_value())
            elif isinstance(value, Path):
                out[name] = str(value)
            else:
                out[name] = value
        return out


# Query parameters of a URL whose value is a credential (libpq, redis-py, asyncpg).
_SECRET_PARAMS = re.compile(r"pass|secret|token|key|credential", re.IGNORECASE)


def mask(secret: str) -> str:
    """``****abcd``: the last four characters only, and only of a long secret.

    A URL keeps where it points (scheme, user, host, port, path) with its
    password, and every query parameter that carries a credential
    (``?password=``, ``sslpassword``, ``sslkey``...), replaced by ``****``.
    A URL that cannot be parsed is masked whole.
    """
    if not secret:
        return ""
    if "://" in secret:
        return _mask_url(secret)
    return "****" + secret[-4:] if len(secret) >= 12 else "****"


def _mask_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return "****"
    user = parts.username or ""
    if parts.password is not None:
        user = f"{user}:****"
    netloc = f"{user}@{host}{port}" if user else f"{host}{port}"
    shown = [(k, "****" if _SECRET_PARAMS.search(k) else v) for k, v in query]
    text = f"{parts.scheme}://{netloc}{parts.path}"
    if shown:
        text += "?" + urlencode(shown, safe="*")
    return text


class ConfigError(Exception):
    """A setting is invalid. ``str()`` is the one line to show an operator."""


def load_settings(env_file: str | Path | None = ".env", *, required: bool = False) -> Settings:
    """Build the settings or raise ConfigError naming the variable and the problem.

    ``required``: the env file was named by the operator, so it must exist
    (the default ``.env`` may be absent). A file that is not UTF-8 or cannot
    be read is a ConfigError naming the file, never a traceback.
    """
    if env_file is not None:
        path = Path(env_file)
        if not path.exists():
            if required:
                raise ConfigError(f"env file {path} does not exist")
            env_file = None
        else:
            try:
                path.read_bytes().decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ConfigError(
                    f"env file {path} is not UTF-8 (byte {exc.start}): save it as UTF-8"
                ) from None
            except OSError as exc:
                raise ConfigError(f"env file {path} cannot be read: {exc.strerror}") from None
    try:
        return Settings(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """One line per the first error: the variable's name and what is wrong with it."""
    err = exc.errors(include_input=False, include_url=False)[0]
    loc = [str(p) for p in err.get("loc", ()) if not isinstance(p, int)]
    name = (loc[0] if loc else "settings").upper()
    field = Settings.model_fields.get(name.lower())
    if field is not None and isinstance(field.validation_alias, AliasChoices):
        # DATABASE_URL or POSTGRES_URL: name both, the operator set one of them.
        name = " or ".join(str(c).upper() for c in field.validation_alias.choices)
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more)" if more > 0 else ""
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"invalid setting {name}: {message}{suffix}"
