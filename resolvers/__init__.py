"""Domain logic between the GraphQL skin and the data layer. Never imports `schema`."""
