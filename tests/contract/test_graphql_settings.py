"""GraphQL schema settings, without servers: introspection follows the setting, and a
document over the cost limit is refused before anything runs."""

from __future__ import annotations

from runtime.settings import Settings
from server.graphql.limits import MAX_COST
from server.graphql.schema import build_schema

INTROSPECT = "{ __schema { queryType { name } } }"


def test_introspection_is_on_in_development_and_can_be_turned_off() -> None:
    assert Settings().graphql_introspection is True
    on = build_schema(Settings()).execute_sync(INTROSPECT)
    assert on.errors is None and on.data == {"__schema": {"queryType": {"name": "Query"}}}
    off = build_schema(Settings(graphql_introspection=False)).execute_sync(INTROSPECT)
    assert off.errors and "introspection has been disabled" in off.errors[0].message


async def test_the_cost_counts_page_sizes_given_as_variables() -> None:
    schema = build_schema(Settings())
    query = """query($first: Int!) { transactions(accountId: "00000000-0000-0000-0000-000000000001",
      first: $first) { edges { cursor node { kind version description occurredAt } } } }"""
    # Without a request the resolver itself fails, but the document passed the limits.
    small = await schema.execute(query, variable_values={"first": 10})
    assert not small.errors or small.errors[0].extensions.get("code") != "query_too_costly"
    big = await schema.execute(query, variable_values={"first": MAX_COST})
    assert big.errors and big.errors[0].extensions["code"] == "query_too_costly"
    assert big.data is None  # refused before any resolver ran
