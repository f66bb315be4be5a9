"""Credits (SPEC §4, §6): lots, FIFO debits, expiry, auto-recharge, invoices, MCA usage.

The package's layout is its design:
- `rules`: pure rules (months, expiry, the FIFO plan, amount checks);
- `ledger`: the unit of work (open loads, changes in memory, `flush` writes everything);
- `store`: the hot path's SQL; `recharge`: when recharges start; `postpaid`: an MCA tenant's
  debit; `billing_periods`: MCA credit limits and closing a month;
- `operations`: the locked writes (debit, adjust, expire, recharge settings);
- `charges`: purchases and recharges charged in two phases, and the sweeper;
- `reads`: balances and everything else a query asks, with no ledger, lock or write;
  `history`: the balance at the end of each of the last days, from the ledger (also a read);
- `idempotency`, `invariants` (the audit), `seats` (credit seats for funded tenants).
"""

from commcredits.services.catalog import CREDITS_SKU
from commcredits.services.credits.billing_periods import close_billing_period, set_credit_limit
from commcredits.services.credits.charges import (
    purchase_credits,
    reconcile_payments,
    settle_recharges,
)
from commcredits.services.credits.history import BalancePoint, balance_history
from commcredits.services.credits.invariants import AuditRow, audit_balances
from commcredits.services.credits.ledger import Ledger
from commcredits.services.credits.operations import (
    adjust_credits,
    configure_auto_recharge,
    debit,
    describe_auto_recharge,
    expire_credits,
    open_for_write,
)
from commcredits.services.credits.reads import (
    Spendable,
    auto_recharge_settings,
    balances,
    count_transactions,
    credit_state,
    current_balance,
    expiring_within,
    forecast,
    lots_query,
    purchase_preview,
    spendable_credit,
    splits_for,
    transactions_query,
)
from commcredits.services.credits.results import (
    AdjustResult,
    AutoRechargeResult,
    CloseResult,
    DebitResult,
    ExpiryResult,
    PurchaseResult,
    RechargeOutcome,
)
from commcredits.services.credits.rules import (
    FORECAST_DAYS,
    MAX_AMOUNT,
    add_months,
    check_amount,
    check_as_of,
    check_idempotency_key,
    fifo_plan,
    is_expired,
    lot_expiry,
    period_of,
)

__all__ = [
    "CREDITS_SKU",
    "FORECAST_DAYS",
    "MAX_AMOUNT",
    "AdjustResult",
    "AuditRow",
    "AutoRechargeResult",
    "BalancePoint",
    "CloseResult",
    "DebitResult",
    "ExpiryResult",
    "Ledger",
    "PurchaseResult",
    "RechargeOutcome",
    "Spendable",
    "add_months",
    "adjust_credits",
    "audit_balances",
    "auto_recharge_settings",
    "balance_history",
    "balances",
    "check_amount",
    "check_as_of",
    "check_idempotency_key",
    "close_billing_period",
    "configure_auto_recharge",
    "credit_state",
    "current_balance",
    "debit",
    "describe_auto_recharge",
    "expire_credits",
    "expiring_within",
    "fifo_plan",
    "forecast",
    "is_expired",
    "lot_expiry",
    "lots_query",
    "open_for_write",
    "period_of",
    "purchase_credits",
    "purchase_preview",
    "reconcile_payments",
    "set_credit_limit",
    "settle_recharges",
    "spendable_credit",
    "splits_for",
    "transactions_query",
    "count_transactions",
]
