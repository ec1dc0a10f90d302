"""The shared fixtures run the app on a configuration the service itself accepts: a demo key
only on the `dev` stage, as `load_settings` insists."""

from __future__ import annotations

from chalicelib.bootstrap import Runtime
from chalicelib.config import Settings, load_settings


def _as_the_loader_sees_it(settings: Settings) -> Settings:
    """The same stage and demo key through the config loader (raises ConfigError if refused)."""
    return load_settings({"STAGE": settings.stage, "DEMO_API_KEY": settings.demo_api_key or ""})


def test_the_shared_runtime_runs_on_a_stage_that_honours_its_demo_key(runtime: Runtime) -> None:
    loaded = _as_the_loader_sees_it(runtime.settings)
    assert (loaded.stage, loaded.demo_api_key) == (runtime.settings.stage,
                                                   runtime.settings.demo_api_key)


def test_the_helper_every_test_builds_settings_with_is_accepted_too() -> None:
    from tests.support.settings import dev_settings

    made = dev_settings(demo_api_key="k", max_batch=3)
    assert _as_the_loader_sees_it(made).demo_api_key == "k" and made.max_batch == 3
