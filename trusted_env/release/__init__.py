"""Releases: the only thing that leaves the trusted environment."""

from trusted_env.release.model import OutputRelease, Release, ReleasedRow

__all__ = ["OutputRelease", "Release", "ReleasedRow"]
