"""Every domain rule, as plain Python over the peewee models. No GraphQL here.

Each public function takes the tenant (or principal) and `now`, raises `DomainError` for an
expected refusal, and does its writes in one transaction holding the tenant's lock.
"""
