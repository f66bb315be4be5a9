"""Thin resolvers: check access, call one service, map the result to a schema type."""
