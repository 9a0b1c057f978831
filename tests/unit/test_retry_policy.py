from __future__ import annotations

from onboarding.settings import Settings
from tasks.policy import backoff_delays, retry_options


def test_delays_double_up_to_the_largest_single_delay() -> None:
    settings = Settings(task_retries=6, retry_base_delay_s=2, retry_max_delay_s=20, retry_budget_s=900)
    assert backoff_delays(settings) == [2, 4, 8, 16, 20, 20]


def test_retries_whose_delays_would_pass_the_budget_are_dropped() -> None:
    settings = Settings(task_retries=8, retry_base_delay_s=2, retry_max_delay_s=60, retry_budget_s=40)
    assert backoff_delays(settings) == [2, 4, 8, 16]
    options = retry_options(settings)
    assert options["retries"] == 4 and options["retry_delay_seconds"] == [2, 4, 8, 16]


def test_jitter_comes_from_settings_and_no_retries_means_no_delays() -> None:
    options = retry_options(Settings(task_retries=0, retry_jitter_factor=0.2))
    assert options["retries"] == 0 and options["retry_delay_seconds"] == 0
    assert options["retry_jitter_factor"] == 0.2
