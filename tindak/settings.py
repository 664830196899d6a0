"""The one settings object. Nothing else in Tindak reads os.environ."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models import db
from tindak.errors import N_, ConfigError

TIMEZONES = ("Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura")


class Settings(BaseSettings):
    """Read once from TINDAK_* variables and a .env file; refuses bad values."""

    model_config = SettingsConfigDict(
        env_prefix="TINDAK_", env_file=".env", extra="ignore", frozen=True
    )

    home: Path = Field(default_factory=lambda: Path.home() / ".tindak")
    database_url: str | None = None

    # Every number has bounds: a 0 or a negative value would divide by zero, resend a
    # message on every run, or never send it.
    smtp_host: str | None = None
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["ssl", "starttls", "none"] = "starttls"
    smtp_timeout: float = Field(default=30.0, gt=0, le=600)
    mail_from: str = "Tindak <tindak@localhost>"

    base_url: str | None = None
    secret_key: SecretStr | None = None
    language: Literal["id", "en"] = "id"
    default_timezone: str = "Asia/Jakarta"

    # The reminder and escalation ladder (SPEC §6).
    remind_days_before: tuple[int, ...] = Field(default=(14, 7, 1, 0), min_length=1)
    overdue_repeat_days: int = Field(default=7, ge=1, le=365)
    escalate_level1_days: int = Field(default=7, ge=1, le=3650)
    escalate_level2_days: int = Field(default=30, ge=2, le=3650)
    stale_days: int = Field(default=30, ge=1, le=3650)
    at_risk_points: int = Field(default=25, ge=0, le=100)

    # Delivery.
    batch_size: int = Field(default=500, ge=1, le=100_000)
    delivery_lease_seconds: int = Field(default=900, ge=1, le=86_400)
    max_attempts: int = Field(default=8, ge=1, le=100)
    delivery_retries: int = Field(default=2, ge=0, le=10)  # Prefect task retries when SMTP is down
    delivery_retry_delays: tuple[int, ...] = (10, 60)
    owner_link_days: int = Field(default=30, ge=1, le=365)

    # Proxies whose X-Forwarded-For/-Proto `tindak web` believes (IPs or networks, comma
    # separated); none by default, so no client chooses the address its rate limits count.
    trusted_proxies: str = ""

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: str) -> str:
        parts = [p.strip() for p in v.split(",") if p.strip()]
        for part in parts:
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"'{part}' is not an IP address or network") from None
        return ",".join(parts)

    @field_validator("default_timezone")
    @classmethod
    def _known_tz(cls, v: str) -> str:
        if v not in TIMEZONES:
            raise ValueError(f"must be one of {', '.join(TIMEZONES)}")
        return v

    @field_validator("remind_days_before")
    @classmethod
    def _ladder(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(d < 0 or d > 365 for d in v):
            raise ValueError("reminder days must be between 0 and 365")
        return tuple(sorted(set(v), reverse=True))

    @field_validator("delivery_retry_delays")
    @classmethod
    def _delays(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(d < 0 or d > 3600 for d in v):
            raise ValueError("retry delays must be between 0 and 3600 seconds")
        return v

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _levels(self) -> Settings:
        if self.escalate_level2_days <= self.escalate_level1_days:
            raise ValueError(f"TINDAK_ESCALATE_LEVEL2_DAYS ({self.escalate_level2_days}) must "
                             "be greater than TINDAK_ESCALATE_LEVEL1_DAYS "
                             f"({self.escalate_level1_days})")
        if self.smtp_user and not self.smtp_password:
            raise ValueError("TINDAK_SMTP_PASSWORD is required when TINDAK_SMTP_USER is set")
        return self

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'tindak.db'}"

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @property
    def files_dir(self) -> Path:
        return self.home / "files"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def port(self) -> int:
        if self.smtp_port:
            return self.smtp_port
        return {"ssl": 465, "starttls": 587, "none": 25}[self.smtp_security]

    def signing_key(self) -> str:
        """TINDAK_SECRET_KEY, or a random key kept in TINDAK_HOME (made once, mode 0600)."""
        if self.secret_key is not None and self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value()
        path = self.home / "secret_key"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


def fingerprint(settings: Settings) -> str:
    """A digest of every setting, secrets included (never the secrets themselves): two
    processes with the same fingerprint would do the same run."""
    values = {k: (v.get_secret_value() if isinstance(v, SecretStr) else v)
              for k, v in settings.model_dump().items()}
    raw = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic's ValidationError: make it one line per field
        errors = getattr(exc, "errors", None)
        if callable(errors):
            # A whole-object check has no field: its message names the variables itself.
            parts = [
                (f"TINDAK_{str(e['loc'][0]).upper()}: " if e["loc"] else "")
                + str(e["msg"]).removeprefix("Value error, ")
                for e in errors()
            ]
            raise ConfigError(N_("bad settings: %(fields)s"), fields="; ".join(parts)) from None
        raise


def reset_settings() -> None:
    """Forget the cached settings (tests and `tindak demo` change the environment)."""
    get_settings.cache_clear()


# The models open the database these settings name, read anew when the settings are reset.
db.bind(lambda: get_settings().db_url)
