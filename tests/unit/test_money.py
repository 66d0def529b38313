"""Money is integer minor units; text a person types converts exactly."""

import pytest

from shared.money import format_minor, major_text, money_text, parse_major


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("100", "EUR", 10_000),
        ("100.00", "EUR", 10_000),
        ("0.1", "EUR", 10),
        ("12,34", "EUR", 1234),
        ("0.29", "EUR", 29),
        ("1000", "JPY", 1000),
        ("1.005", "KWD", 1005),
        ("92233720368547758.07", "EUR", 2**63 - 1),
    ],
)
def test_major_units_convert_exactly(text: str, currency: str, minor: int) -> None:
    assert parse_major(text, currency) == minor


@pytest.mark.parametrize("text", ["", "abc", "1.234", "1e3", "92233720368547758.08", "1..2"])
def test_unclear_amounts_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_major(text, "EUR")
    assert str(info.value)


def test_format_round_trips() -> None:
    assert format_minor(123456, "EUR") == "1,234.56"
    assert format_minor(-5, "EUR") == "-0.05"
    assert format_minor(1000, "JPY") == "1,000"
    assert parse_major(format_minor(987654321, "EUR").replace(",", ""), "EUR") == 987654321


@pytest.mark.parametrize(
    ("minor", "currency", "typed"),
    [
        (123456789, "EUR", "1234567.89"),
        (5, "EUR", "0.05"),
        (1_000_000, "JPY", "1000000"),
        (1_500, "KWD", "1.500"),
    ],
)
def test_an_amount_is_filled_in_as_typed_and_reads_back(
    minor: int, currency: str, typed: str
) -> None:
    assert major_text(minor, currency) == typed
    assert parse_major(typed, currency) == minor


def test_an_amount_reads_as_a_person_reads_it_in_every_message() -> None:
    """Screens, notifications, statements and the bank's refusals: never 'minor units'."""
    assert money_text(100_000_000, "EUR") == "1,000,000.00 EUR"
    assert money_text(100_000_000, "JPY") == "100,000,000 JPY"
    assert money_text(1_500, "KWD") == "1.500 KWD"
