"""The GraphQL cost limit (server/graphql/limits.py) over the real schema: every list
field is charged as a page, so a document asking many long lists is refused before it
runs, and a new list field cannot be added without a size."""

from __future__ import annotations

from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLType,
    parse,
    validate,
)

from runtime.settings import Settings
from server.graphql.limits import LIST_SIZES, MAX_COST, cost_rule
from server.graphql.schema import build_schema

SCHEMA: GraphQLSchema = build_schema(Settings())._schema
ID = '"00000000-0000-0000-0000-000000000001"'


def _errors(document: str) -> list[str]:
    return [e.message for e in validate(SCHEMA, parse(document), [cost_rule({})])]


def _unwrapped(type_: GraphQLType) -> GraphQLType:
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return type_


def test_every_list_of_objects_is_paged_or_has_a_size() -> None:
    unsized = []
    for type_ in SCHEMA.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for name, field in type_.fields.items():
            if not isinstance(_unwrapped(field.type), GraphQLList):
                continue
            # A connection's edges are charged as its parent's page (``first``).
            paged = "first" in field.args or type_.name.endswith("Connection")
            if not paged and name not in LIST_SIZES:
                unsized.append(f"{type_.name}.{name}")
    assert unsized == []


def test_one_list_of_the_new_banking_fields_fits_and_many_do_not() -> None:
    holds = f"holds(accountId: {ID}) {{ holdId status amount {{ amount currency }} expiresAt }}"
    assert _errors(f"{{ {holds} }}") == []
    assert _errors("{ payees { accountNumber nickname nameMatch } }") == []
    occurrences = f"standingOrder(id: {ID}) {{ occurrences {{ index dueDate outcome }} }}"
    assert _errors(f"{{ {occurrences} }}") == []

    many_holds = " ".join(f"h{i}: {holds}" for i in range(10))
    [error] = _errors(f"{{ {many_holds} }}")
    assert f"at most {MAX_COST}" in error
    many = " ".join(f"o{i}: {occurrences}" for i in range(4))
    assert _errors(f"{{ {many} }}") != []
    orders = "standingOrders { id status amount nextDue createdAt frequency }"
    assert _errors(f"{{ {' '.join(f's{i}: {orders}' for i in range(10))} }}") != []
