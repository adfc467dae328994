"""Settings of the trusted environment, read from `TRE_*` environment variables.

One object configures the control plane (database, worker leases), the sandbox the runner opens
real data in, the API server and the researcher's client, so that every process started on the
same host with the same environment agrees on where the data and the database are.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SQLITE_FILE = "control.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRE_", extra="ignore", frozen=True)

    data_dir: Path = Field(
        default=Path(".tre"), description="Where the embedded database and run files live."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the control-plane database; default: SQLite in data_dir. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/name (postgresql:// works too).",
    )
    sqlite_busy_timeout_seconds: float = Field(default=30.0, gt=0)

    worker_lease_seconds: float = Field(
        default=60.0, gt=0, description="A run whose lease is older than this is reclaimed."
    )
    worker_heartbeat_seconds: float = Field(
        default=10.0, gt=0, description="How often a running worker renews its lease."
    )
    worker_poll_seconds: float = Field(default=5.0, gt=0)
    worker_max_attempts: int = Field(
        default=3, ge=1, description="A run interrupted this many times is marked failed."
    )

    sandbox_memory_limit: str = Field(default="4GB", description="DuckDB memory_limit.")
    sandbox_threads: int = Field(default=2, ge=1)
    sandbox_timeout_seconds: float = Field(default=600.0, gt=0)

    # Issue 4: the API server and the researcher's client.
    server_host: str = "127.0.0.1"
    server_port: int = Field(default=8000, ge=1, le=65535)
    url: str | None = Field(default=None, description="Server the researcher's client talks to.")
    token: SecretStr | None = Field(default=None, description="The researcher's API token.")

    @model_validator(mode="after")
    def _heartbeat_within_lease(self) -> Settings:
        if self.worker_heartbeat_seconds >= self.worker_lease_seconds:
            raise ValueError(
                "worker_heartbeat_seconds must be shorter than worker_lease_seconds, or a "
                "running worker would lose its lease between heartbeats"
            )
        return self

    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / SQLITE_FILE).resolve()}"


def get_settings() -> Settings:
    return Settings()
