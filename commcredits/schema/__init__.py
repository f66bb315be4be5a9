"""Strawberry types, inputs and payloads; `schema.root` assembles the executable schema."""
