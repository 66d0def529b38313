"""GraphQL at /graphql (Strawberry on Litestar) over the same application layer as REST."""
