"""Strawberry types, inputs and payloads; `schema.root` assembles the executable schema.

One convention for nested fields: a type's fields resolve in the type itself, through the
services and the request's context (`info.context`: clock, dataloaders, the tenant row read
once per request); root fields (Query, Mutation, Subscription) live in `commcredits.resolvers`.
The imports run one way, resolvers → schema → services: no module here imports
`commcredits.resolvers`, but `schema.root`, which assembles the resolvers' root types
(`tests/test_permissions_declared.py` checks it).
"""
