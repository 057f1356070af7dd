"""A Bamboo Integration API simulator: strict rules, scheduled faults, an audit of every call."""

from sandbox.bamboo.app import create_app
from sandbox.bamboo.settings import Settings

__all__ = ["Settings", "create_app"]
