"""One reading of "seconds" for settings and options (stratoflow.durations), and the three
callers that use it: each keeps its own error type and message."""

from __future__ import annotations

import argparse
import doctest
from decimal import Decimal
from fractions import Fraction

import pytest
from django.conf import LazySettings

from stratoflow import durations
from stratoflow.commands.arguments import positive_seconds as tick_argument
from stratoflow.durations import positive_seconds
from stratoflow.errors import ConfigError
from stratoflow.server.mail import email_timeout
from stratoflow.server.workflow.leases import seconds_setting

#: text that is no number at all
NOT_NUMBERS = ["soon", "", " ", "1,5", "5s", "0x10", "one"]
#: numbers that are no usable duration
NOT_POSITIVE = ["0", "-0", "-1", "-0.5", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e400"]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("60", 60.0),
        (" 2.5 ", 2.5),
        ("1e3", 1000.0),
        ("1e-3", 0.001),
        ("+7", 7.0),
        (3, 3.0),
        (0.25, 0.25),
        (Decimal("1.5"), 1.5),
        (Fraction(1, 4), 0.25),
    ],
)
def test_a_finite_positive_number_is_read(value: object, seconds: float) -> None:
    result = positive_seconds(value)
    assert result == seconds and type(result) is float


@pytest.mark.parametrize("value", NOT_NUMBERS)
def test_text_that_is_no_number_is_refused_showing_it(value: str) -> None:
    with pytest.raises(ValueError, match=r"is not a number of seconds$") as raised:
        positive_seconds(value)
    assert str(raised.value) == f"{value!r} is not a number of seconds"


@pytest.mark.parametrize("value", NOT_POSITIVE)
def test_zero_negatives_nan_and_infinity_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match=r"must be a number of seconds above 0$") as raised:
        positive_seconds(value)
    assert str(raised.value) == f"{value} must be a number of seconds above 0"


@pytest.mark.parametrize("value", [True, False, None, [5], object()])
def test_booleans_and_other_objects_are_no_seconds(value: object) -> None:
    """``True`` is 1 to float(): a setting of True is a mistake, not one second."""
    with pytest.raises(ValueError, match="is not a number of seconds"):
        positive_seconds(value)


def test_an_integer_beyond_float_is_refused_not_an_overflow_error() -> None:
    with pytest.raises(ValueError, match="must be a number of seconds above 0"):
        positive_seconds(10**400)


def test_the_module_example_holds() -> None:
    assert doctest.testmod(durations, raise_on_error=False).failed == 0


@pytest.mark.parametrize("value", NOT_NUMBERS[:1] + NOT_NUMBERS[3:] + NOT_POSITIVE)
def test_each_caller_refuses_what_the_reading_refuses_in_its_own_words(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A blank email timeout means the default, so blank text is left out here (it is
    checked with the mail settings)."""
    with pytest.raises(ConfigError) as mail:
        email_timeout(value)
    assert str(mail.value) == (
        f"STRATOFLOW_EMAIL_TIMEOUT: {value!r} is not a number of seconds above 0"
    )
    monkeypatch.setenv("STRATOFLOW_TEST_SECONDS", value)
    with pytest.raises(ConfigError) as lease:
        seconds_setting("STRATOFLOW_TEST_SECONDS", 60.0)
    assert str(lease.value) == (
        f"STRATOFLOW_TEST_SECONDS must be a number of seconds > 0 (default 60), not {value!r}"
    )
    with pytest.raises(argparse.ArgumentTypeError) as tick:
        tick_argument(value)
    with pytest.raises(ValueError, match="number of seconds") as shared:
        positive_seconds(value)
    assert str(tick.value) == str(shared.value)


@pytest.mark.parametrize("value", ["60", " 2.5 ", "1e3", "0.001"])
def test_each_caller_reads_a_good_value_alike(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATOFLOW_TEST_SECONDS", value)
    expected = float(value)
    assert email_timeout(value) == expected
    assert seconds_setting("STRATOFLOW_TEST_SECONDS", 60.0) == expected
    assert tick_argument(value) == expected


@pytest.mark.parametrize(
    "value", [True, pytest.param(10**400, id="10**400"), -3, float("nan"), "abc"]
)
def test_a_django_setting_that_is_no_duration_names_the_setting(
    value: object, settings: LazySettings
) -> None:
    """A Django setting is any Python object; 10**400 was an OverflowError traceback."""
    settings.STRATOFLOW_TEST_SECONDS = value
    with pytest.raises(ConfigError, match=r"^STRATOFLOW_TEST_SECONDS must be a number"):
        seconds_setting("STRATOFLOW_TEST_SECONDS", 60.0)


def test_a_django_setting_wins_over_the_environment_and_the_default(
    settings: LazySettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert seconds_setting("STRATOFLOW_TEST_SECONDS", 45.0) == 45.0
    monkeypatch.setenv("STRATOFLOW_TEST_SECONDS", "12")
    assert seconds_setting("STRATOFLOW_TEST_SECONDS", 45.0) == 12.0
    settings.STRATOFLOW_TEST_SECONDS = 3
    assert seconds_setting("STRATOFLOW_TEST_SECONDS", 45.0) == 3.0
