"""Settings come from TRE_* environment variables, with embedded defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from trusted_env.control.worker import sandbox_limits
from trusted_env.settings import Settings


def test_defaults_need_nothing_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TRE_DATA_DIR", "TRE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.data_dir == Path(".tre")
    assert settings.effective_database_url() == f"sqlite:///{Path('.tre/control.db').resolve()}"


def test_environment_variables_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRE_DATABASE_URL", "postgresql://tre@db:5432/tre")
    monkeypatch.setenv("TRE_WORKER_LEASE_SECONDS", "12.5")
    monkeypatch.setenv("TRE_SANDBOX_MEMORY_LIMIT", "512MB")
    monkeypatch.setenv("TRE_TOKEN", "tre_secret")
    settings = Settings()
    assert settings.effective_database_url() == "postgresql://tre@db:5432/tre"
    assert settings.worker_lease_seconds == 12.5
    assert sandbox_limits(settings).memory_limit == "512MB"
    assert settings.token is not None and "tre_secret" not in repr(settings)


def test_nonsense_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRE_WORKER_LEASE_SECONDS", "-3")
    with pytest.raises(ValueError, match="worker_lease_seconds"):
        Settings()


def test_the_heartbeat_must_be_shorter_than_the_lease() -> None:
    with pytest.raises(ValueError, match="heartbeat"):
        Settings(worker_lease_seconds=5, worker_heartbeat_seconds=5)
