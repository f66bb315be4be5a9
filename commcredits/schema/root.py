"""The executable schema: every area's Query and Mutation merged into one root each."""

from graphql import GraphQLError
from strawberry import Schema
from strawberry.extensions import MaxTokensLimiter, ParserCache
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from commcredits.execution import PlainListVariables
from commcredits.resolvers.access import AccessMutation, AccessQuery
from commcredits.resolvers.billing import BillingMutation
from commcredits.resolvers.calling_policies import CallingPolicyMutation, CallingPolicyQuery
from commcredits.resolvers.catalog import CatalogMutation, CatalogQuery
from commcredits.resolvers.credits import CreditsQuery
from commcredits.resolvers.group_policies import GroupPolicyMutation, GroupPolicyQuery
from commcredits.resolvers.groups import GroupMutation, GroupQuery
from commcredits.resolvers.licenses import LicenseMutation
from commcredits.resolvers.node import NodeQuery
from commcredits.resolvers.operator_credits import OperatorCreditsMutation
from commcredits.resolvers.policies import PolicyMutation, PolicyQuery
from commcredits.resolvers.pstn_blocks import PstnBlockMutation, PstnBlockQuery
from commcredits.resolvers.rating import RatingMutation, RatingQuery
from commcredits.resolvers.subscriptions import Subscription
from commcredits.resolvers.tenants import TenantMutation, TenantQuery
from commcredits.resolvers.user_import import UserImportMutation
from commcredits.resolvers.users import UserMutation, UserQuery
from commcredits.schema.access import ApiKey, AuditEntry
from commcredits.schema.catalog import Sku, SubscribedSku
from commcredits.schema.cost import MAX_COST
from commcredits.schema.credits import CreditLot, CreditTransaction
from commcredits.schema.directory import User
from commcredits.schema.invoices import Invoice
from commcredits.schema.length_check import InputLimits
from commcredits.schema.limits import document_limits_rule
from commcredits.schema.notifications import Notification
from commcredits.schema.scalars import SCALAR_OVERRIDES
from commcredits.schema.tenants import Tenant
from commcredits.schema.user_import import COLUMN_SCALARS
from commcredits.schema.validation import CACHE_SIZE, CachedValidation
from commcredits.services.errors import DomainError

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 5000
# Selections an operation may hold once its fragments are spread out; the token limit lets
# a document without fragments hold at most 5,000.
MAX_SELECTIONS = 10_000

Query = merge_types(
    "Query",
    (
        NodeQuery,
        TenantQuery,
        CatalogQuery,
        UserQuery,
        AccessQuery,
        RatingQuery,
        PolicyQuery,
        CallingPolicyQuery,
        PstnBlockQuery,
        GroupQuery,
        GroupPolicyQuery,
        CreditsQuery,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        TenantMutation,
        CatalogMutation,
        UserMutation,
        UserImportMutation,
        LicenseMutation,
        AccessMutation,
        RatingMutation,
        PolicyMutation,
        CallingPolicyMutation,
        PstnBlockMutation,
        GroupMutation,
        GroupPolicyMutation,
        BillingMutation,
        OperatorCreditsMutation,
    ),
)


# Depth, aliases and size once fragments are spread, in linear time (Strawberry's depth and
# alias limiters expand every spread again: exponential in a fragment bomb's few bytes).
_DOCUMENT_RULES = (
    document_limits_rule(
        max_depth=MAX_DEPTH, max_aliases=MAX_ALIASES, max_selections=MAX_SELECTIONS
    ),
)


class CommcreditsSchema(Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Domain refusals and bad queries are the client's business; only the unexpected is
        # logged here (with its traceback) by the execution layer, which knows the request id.
        return None


schema = CommcreditsSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=[
        User,
        Sku,
        SubscribedSku,
        Tenant,
        ApiKey,
        AuditEntry,
        CreditLot,
        CreditTransaction,
        Invoice,
        Notification,
    ],
    extensions=[
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        # Parsing and validating a text happen once (both cached per text), the depth and
        # alias limits among the rules; the cost limit, which depends on the variables, runs
        # on every request.
        lambda: ParserCache(maxsize=CACHE_SIZE),
        lambda: CachedValidation(rules=_DOCUMENT_RULES, max_cost=MAX_COST),
        # Every string argument's length, variables included, before anything executes.
        InputLimits,
    ],
    scalar_overrides={**SCALAR_OVERRIDES, **COLUMN_SCALARS},
    # Long lists of strings (a bulk batch's user principal names) taken as given.
    execution_context_class=PlainListVariables,
)

__all__ = ["DomainError", "schema"]
