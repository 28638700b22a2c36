"""Configuration: defaults in `defaults.toml`, overrides from the environment.

Standard library only. Loaded once by an entry point (`run.py`) and passed
down; nothing else reads the environment.
"""

from config.settings import ConfigError, Settings, load, options

__all__ = ["ConfigError", "Settings", "load", "options"]
