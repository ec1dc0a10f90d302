"""Settings for tests that use the demo key: the `dev` stage, the only one honouring it, and
checked by the config loader so no test runs a configuration the service would refuse."""

from __future__ import annotations

from typing import Any

from chalicelib.config import Settings, load_settings


def dev_settings(**fields: Any) -> Settings:
    """`Settings(stage="dev", **fields)`, refused (ConfigError) where load_settings would."""
    settings = Settings(**{"stage": "dev", **fields})
    load_settings({"STAGE": settings.stage, "DEMO_API_KEY": settings.demo_api_key or ""})
    return settings
