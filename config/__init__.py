"""giftq's settings, read from the environment in one place and passed in explicitly."""

from config.settings import Settings, load_settings

__all__ = ["Settings", "load_settings"]
