"""A field submitted with Enter takes the text Flutter sent with the submit event
(client/views/common.take_submitted): the field's value on this side is the last change
the browser sent, which can go missing, and the history was then searched for the word
before."""

from __future__ import annotations

import flet as ft

from client.views.common import take_submitted


def test_the_submitted_text_replaces_a_value_that_lagged_behind() -> None:
    field = ft.TextField(label="Search history", value="RENT")
    take_submitted(ft.Event(name="submit", data="holiday", control=field))
    assert field.value == "holiday"


def test_a_click_or_a_submit_without_text_changes_nothing() -> None:
    field = ft.TextField(label="PIN", value="1234")
    take_submitted(ft.Event(name="submit", data=None, control=field))
    assert field.value == "1234"
    button = ft.Button("Unlock")  # a handler wired to a field and a button gets both
    take_submitted(ft.Event(name="click", data="5678", control=button))
    assert getattr(button, "value", None) is None
