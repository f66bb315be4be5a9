"""Thin root resolvers: declare the permission (`permissions.permission`), call one service,
map the result to a schema type. Nested fields resolve in their schema types (see
`commcredits.schema`), which never import this package."""
