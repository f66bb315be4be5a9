// Communication Credits (Billing > Your products): the balance with "as of", live over the
// balanceChanged subscription; lots oldest first; what expires within 30 days; the forecast;
// auto-recharge at a glance; the balance of the last 90 days as a chart (credits-chart.js); the
// ledger by Relay cursor pages with its filter (credits-ledger.js); invoices with their status.
// MCA tenants see their credit limit and postpaid usage instead of buying.
import { gql } from "../api.js";
import { HISTORY_FIELDS, historyChart } from "../credits-chart.js";
import { ledgerSection } from "../credits-ledger.js";
import { canManageBilling, h, present, readOnlyText, section, table } from "../dom.js";
import { date, dateTime, moneyOf, number, t } from "../i18n.js";
import { reread, subscribe } from "../live.js";

const OVERVIEW = `query CreditsPage {
  viewer { role }
  tenant {
    name currency agreementType
    balance {
      remaining { amount currency } asOf
      ${HISTORY_FIELDS}
      forecast { dailyBurn { amount currency } daysLeft }
      expiringWithin(days: 30) { amount { amount currency } lots }
      lots(first: 100) {
        totalCount
        nodes { id amount { amount currency } remaining { amount currency } purchasedAt expiresAt source }
      }
    }
    creditLimit { period limit { amount currency } used { amount currency } available { amount currency } }
    autoRecharge { enabled topUp { amount currency } threshold { amount currency } maxRechargesPerDay }
    invoices(first: 20) {
      totalCount
      nodes { number issuedAt amount { amount currency } status reason failureReason }
    }
  }
}`;

const LIVE = `subscription LiveBalance { balanceChanged { balance { amount currency } at reason sequence } }`;

// Status words and a symbol, so no status is told by colour alone.
const STATUS_SYMBOL = { PAID: "✓", ISSUED: "✓", PENDING: "…", FAILED: "✕", DRAFT: "✎" };

function statusBadge(status) {
  return h(
    "span",
    { class: `status status-${status.toLowerCase()}` },
    `${STATUS_SYMBOL[status] || ""} ${t(`invoice.status.${status}`)}`,
  );
}

function balanceCard(tenant, role) {
  const b = tenant.balance;
  const mca = tenant.agreementType === "MCA";
  const actions = [];
  if (!mca) {
    actions.push(h("a", { href: "/credits/add", "data-link": true, class: "button primary" }, t("credits.add")));
  }
  actions.push(h("a", { href: "/credits/auto-recharge", "data-link": true, class: "button" }, t("credits.autoRecharge")));
  const ar = tenant.autoRecharge;
  return h(
    "section",
    { class: "card balance-card", "aria-labelledby": "balance-heading" },
    h("h2", { id: "balance-heading" }, t("credits.balance")),
    h("p", { id: "balance", class: "balance", "aria-live": "polite" }, moneyOf(b.remaining)),
    h("p", { id: "balance-as-of", class: "as-of" }, t("credits.asOf", { when: dateTime(b.asOf) })),
    h(
      "p",
      { id: "auto-recharge-summary" },
      ar.enabled
        ? t("credits.autoRechargeOn", {
            amount: moneyOf(ar.topUp),
            trigger: moneyOf(ar.threshold),
          })
        : t("credits.autoRechargeOff"),
    ),
    canManageBilling(role) ? null : h("p", { class: "readonly-note" }, readOnlyText(role)),
    h("div", { class: "actions" }, actions),
  );
}

function creditLimitCard(tenant) {
  const limit = tenant.creditLimit;
  return section(
    "credits.mcaTitle",
    h("p", null, t("credits.mcaIntro")),
    limit
      ? h(
          "dl",
          { class: "facts" },
          h("dt", null, t("credits.mcaPeriod")),
          h("dd", null, limit.period),
          h("dt", null, t("credits.mcaLimit")),
          h("dd", null, limit.limit ? moneyOf(limit.limit) : t("credits.mcaNoLimit")),
          h("dt", null, t("credits.mcaUsed")),
          h("dd", null, moneyOf(limit.used)),
          h("dt", null, t("credits.mcaAvailable")),
          h("dd", null, moneyOf(limit.available)),
        )
      : h("p", null, t("credits.mcaNoLimit")),
  );
}

function forecastSection(b) {
  const f = b.forecast;
  const expiring = b.expiringWithin;
  return section(
    "credits.outlook",
    h(
      "dl",
      { class: "facts" },
      h("dt", null, t("credits.dailyBurn")),
      h("dd", { id: "daily-burn" }, moneyOf(f.dailyBurn)),
      h("dt", null, t("credits.daysLeft")),
      h("dd", { id: "days-left" }, f.daysLeft === null ? t("credits.noSpend") : t("credits.days", { n: number(f.daysLeft) })),
      h("dt", null, t("credits.expiring30")),
      h("dd", { id: "expiring" }, t("credits.expiringValue", { amount: moneyOf(expiring.amount), lots: number(expiring.lots) })),
    ),
  );
}

function lotsSection(b) {
  const rows = b.lots.nodes.map((lot) => [
    date(lot.purchasedAt),
    t(`lot.source.${lot.source}`),
    moneyOf(lot.amount),
    moneyOf(lot.remaining),
    date(lot.expiresAt),
  ]);
  return section(
    "credits.lots",
    table(
      t("credits.lotsCaption"),
      [t("col.purchased"), t("col.source"), t("col.amount"), t("col.remaining"), t("col.expires")],
      rows,
      t("credits.noLots"),
    ),
  );
}

function invoicesSection(invoices) {
  const rows = invoices.nodes.map((inv) => [
    String(inv.number),
    dateTime(inv.issuedAt),
    t(`invoice.reason.${inv.reason}`),
    moneyOf(inv.amount),
    h("span", null, statusBadge(inv.status), inv.failureReason ? ` (${inv.failureReason})` : ""),
  ]);
  return section(
    "credits.invoices",
    table(
      t("credits.invoicesCaption", { shown: number(rows.length), total: number(invoices.totalCount) }),
      [t("col.number"), t("col.issued"), t("col.reason"), t("col.amount"), t("col.status")],
      rows,
      t("credits.noInvoices"),
    ),
  );
}

export default {
  path: "/credits",
  title: "credits.title",
  nav: "nav.credits",
  async render(main, ctx) {
    const details = h("div", { class: "details" });
    const ledger = ledgerSection();
    const chart = historyChart();
    main.append(
      h("p", { class: "breadcrumb" }, t("credits.breadcrumb")),
      h("h1", null, t("credits.title")),
      details,
      ledger.element,
    );

    async function load() {
      const data = await gql(OVERVIEW);
      const tenant = data.tenant;
      const mca = tenant.agreementType === "MCA";
      details.replaceChildren(
        ...present(
        balanceCard(tenant, data.viewer.role),
        mca ? creditLimitCard(tenant) : null,
        chart.element,
        forecastSection(tenant.balance),
        lotsSection(tenant.balance),
        invoicesSection(tenant.invoices),
        ),
      );
      chart.draw(tenant.balance.history); // once in the page, so it has its width
    }

    await Promise.all([load(), ledger.load()]);

    // Live: the new balance at once, then the rest read again (lots, ledger, invoices move
    // with it). Bursts of events cost one re-read.
    let pending = null;
    function refreshSoon() {
      clearTimeout(pending);
      pending = setTimeout(() => {
        // One re-read of both: an ended session (or a refused tenant) is handled once.
        const reads = [load()];
        if (ledger.state.page === 0) reads.push(ledger.load());
        reread(Promise.all(reads), { onSignedOut: () => ctx.signedOut() });
      }, 300);
    }
    const stop = subscribe(LIVE, {}, {
      next(data) {
        const event = data && data.balanceChanged;
        if (!event) return;
        const balance = document.getElementById("balance");
        if (balance) balance.textContent = moneyOf(event.balance);
        const asOf = document.getElementById("balance-as-of");
        if (asOf) asOf.textContent = t("credits.asOf", { when: dateTime(event.at) });
        refreshSoon();
      },
      onReconnect: refreshSoon, // events while the socket was down are not replayed
      onSignedOut: () => ctx.signedOut(),
    });
    return () => {
      clearTimeout(pending);
      stop();
      chart.destroy();
    };
  },
};
