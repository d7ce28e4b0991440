"""WebSocket limits: their validation and how the environment sets them."""

from __future__ import annotations

import pytest

from trading_api.shared.settings import Settings, SettingsError
from trading_api.shared.ws import WsLimits


def test_environment_sets_each_limit_and_leaves_the_rest_at_defaults() -> None:
    settings = Settings.from_env(
        {"WS_QUEUE_HARD_BYTES": "8388608", "WS_MAX_NESTING_DEPTH": " 8 "}
    )

    assert settings.ws_limits == WsLimits(
        send_queue_hard_bytes=8 * 1024 * 1024, max_nesting_depth=8
    )
    assert settings.ws_limits.send_queue_soft_bytes == 1024 * 1024


def test_empty_environment_gives_the_documented_defaults() -> None:
    limits = Settings.from_env({}).ws_limits

    assert (limits.send_queue_soft_limit, limits.send_queue_hard_limit) == (256, 4096)
    assert (limits.send_queue_soft_bytes, limits.send_queue_hard_bytes) == (
        1024 * 1024,
        4 * 1024 * 1024,
    )
    assert (limits.max_frame_bytes, limits.max_nesting_depth) == (65536, 32)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"WS_QUEUE_HARD_BYTES": "4MiB"}, "WS_QUEUE_HARD_BYTES must be a whole number"),
        (
            {"WS_MAX_TOPICS": "0"},
            "max_topics_per_connection must be a whole number >= 1",
        ),
        (
            {"WS_QUEUE_HARD_BYTES": "1000"},
            "need send_queue_soft_bytes < send_queue_hard_bytes",
        ),
        ({"JOB_FAILURES_BEFORE_UNHEALTHY": "0"}, "JOB_FAILURES_BEFORE_UNHEALTHY"),
    ],
    ids=["not-a-number", "zero", "soft-over-hard", "zero-failures"],
)
def test_bad_value_is_one_line_naming_the_setting(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env(environ)

    assert message in str(error.value)
    assert "\n" not in str(error.value)
    assert error.value.exit_code == 2
