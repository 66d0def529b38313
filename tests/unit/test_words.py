"""A number of things is worded as a person would say it."""

from __future__ import annotations

from shared.words import counted, with_article


def test_one_is_singular_and_every_other_number_plural() -> None:
    assert counted(1, "transaction") == "1 transaction"
    assert counted(0, "transaction") == "0 transactions"
    assert counted(2, "queued payment") == "2 queued payments"


def test_an_irregular_plural_is_given() -> None:
    assert counted(1, "try", "tries") == "1 try"
    assert counted(4, "try", "tries") == "4 tries"


def test_the_article_follows_the_first_sound_of_a_role() -> None:
    assert with_article("admin") == "an admin"
    assert with_article("auditor") == "an auditor"
    assert with_article("teller") == "a teller"
    assert with_article("customer") == "a customer"
