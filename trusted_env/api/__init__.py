"""The HTTP API of the trusted environment (FastAPI): `create_app(settings)`."""

from trusted_env.api.app import API_PREFIX, create_app

__all__ = ["API_PREFIX", "create_app"]
