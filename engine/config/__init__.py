"""Typed settings with the reference defaults."""

from .settings import SETTING_KEYS, Settings, check_key, default_settings, validate_settings

__all__ = ["SETTING_KEYS", "Settings", "check_key", "default_settings", "validate_settings"]
