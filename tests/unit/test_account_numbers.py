"""Account numbers people can read out (issue #17): IBAN-style mod-97 check digits."""

from __future__ import annotations

import pytest

from server.domain import account_number as numbers
from server.domain.errors import InvalidAccountNumberError


def test_the_check_digits_are_iso_13616s() -> None:
    assert numbers.check_digits("WEST12345698765432", "GB") == "82"  # the textbook IBAN
    assert numbers.from_serial(1) == "XN07NWBK0000000001"


def test_every_number_is_valid_distinct_and_read_out_in_groups_of_four() -> None:
    made = [numbers.from_serial(n) for n in range(1, 2001)]
    assert len(set(made)) == len(made) and all(numbers.is_valid(n) for n in made)
    assert numbers.formatted(made[0]) == "XN07 NWBK 0000 0000 01"


def test_a_typed_number_may_have_spaces_dashes_and_lower_case() -> None:
    assert numbers.parse(" xn07 nwbk-0000 0000 01 ") == "XN07NWBK0000000001"


def test_any_single_mistyped_character_or_swapped_neighbours_is_caught() -> None:
    good = numbers.from_serial(123456789)
    for i in range(2, len(good)):
        for c in "0123456789":
            if c != good[i] and good[i].isdigit():
                assert not numbers.is_valid(good[:i] + c + good[i + 1 :])
    for i in range(4, len(good) - 1):
        if good[i] != good[i + 1]:
            swapped = good[:i] + good[i + 1] + good[i] + good[i + 2 :]
            assert not numbers.is_valid(swapped)


@pytest.mark.parametrize("typed", ["", "XN07", "GB82WEST12345698765432", "XN08NWBK0000000001"])
def test_what_is_not_one_of_our_numbers_is_refused_with_a_reason(typed: str) -> None:
    with pytest.raises(InvalidAccountNumberError):
        numbers.parse(typed)


def test_serials_out_of_range_are_refused() -> None:
    for serial in (0, 10**10):
        with pytest.raises(ValueError):
            numbers.from_serial(serial)
