// Calls and minutes: a month (?month=YYYY-MM, the current one by default, so reload and the
// back button keep it), its minute pools as bars with their numbers in words, the usage
// summary, the month's blocked calls with their reasons, the recent calls (live over the
// callRated subscription) and "can this user call this number?" (authorizeCall).
import { ConnectionError, gql } from "../api.js";
import { authorizeBox } from "../calls-authorize.js";
import {
  addMonths,
  callTypeText,
  countryText,
  currentMonth,
  monthChoices,
  monthFromUrl,
  monthLabel,
  monthOf,
} from "../calls-format.js";
import { CALL_FIELDS, blockedCalls, recentCalls } from "../calls-records.js";
import { h, section, selectField, table, uid } from "../dom.js";
import { locale, moneyOf, number, t } from "../i18n.js";
import { subscribe } from "../live.js";

const MONTH_DATA = `query CallsMonth($month: String!) {
  skus { skuPartNumber displayName }
  minutePools(month: $month) { month plan country type granted used left }
  usageSummary(month: $month) {
    month calls blockedCalls minutes poolMinutes chargedMinutes spent { amount currency }
    lines {
      callType country calls blockedCalls minutes poolMinutes chargedMinutes
      spent { amount currency }
    }
  }
}`;

const LIVE = `subscription CallsLive { callRated { ${CALL_FIELDS} } }`;

// One pool: its name, a bar (a <meter> labelled by the name) and the numbers in words.
function poolItem(pool, names) {
  const id = uid("pool");
  const plan = names.get(pool.plan) || pool.plan;
  const name = `${plan} · ${callTypeText(pool.type)} · ${countryText(pool.country)}`;
  const numbers = t("calls.pools.numbers", {
    used: number(pool.used),
    granted: number(pool.granted),
    left: number(pool.left),
  });
  const share = pool.granted ? pool.used / pool.granted : 0;
  const percent = new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 1 }).format(share);
  const meter = h("meter", {
    id,
    min: 0,
    max: Math.max(pool.granted, 1),
    value: Math.min(pool.used, Math.max(pool.granted, 1)),
    low: Math.max(pool.granted, 1) * 0.75,
    high: Math.max(pool.granted, 1) * 0.9,
    optimum: 0,
    "aria-describedby": `${id}-numbers`,
  });
  return h(
    "li",
    { class: "pool" },
    h("label", { for: id, class: "pool-name" }, name),
    h("div", { class: "pool-bar" }, meter, h("span", { class: "pool-percent", "aria-hidden": "true" }, percent)),
    h("p", { id: `${id}-numbers`, class: "pool-numbers" }, numbers, pool.left === 0 && pool.granted ? ` ⚠ ${t("calls.pools.exhausted")}` : ""),
  );
}

function poolsBody(pools, names) {
  if (!pools.length) return h("p", { class: "empty" }, t("calls.pools.empty"));
  return h("ul", { class: "pools" }, pools.map((p) => poolItem(p, names)));
}

function summaryBody(s) {
  const facts = [
    ["calls", t("calls.summary.calls"), number(s.calls)],
    ["blocked", t("calls.summary.blocked"), number(s.blockedCalls)],
    ["minutes", t("calls.summary.minutes"), t("calls.minutes", { n: number(s.minutes) })],
    ["pool", t("calls.summary.poolMinutes"), t("calls.minutes", { n: number(s.poolMinutes) })],
    ["charged", t("calls.summary.chargedMinutes"), t("calls.minutes", { n: number(s.chargedMinutes) })],
    ["credits", t("calls.summary.creditsSpent"), moneyOf(s.spent)],
  ];
  const rows = s.lines.map((l) => [
    callTypeText(l.callType),
    l.country ? countryText(l.country) : "—",
    number(l.calls),
    number(l.blockedCalls),
    number(l.minutes),
    number(l.poolMinutes),
    number(l.chargedMinutes),
    moneyOf(l.spent),
  ]);
  return [
    h("dl", { class: "facts usage-facts" }, facts.map(([id, k, v]) => [h("dt", null, k), h("dd", { id: `usage-${id}` }, v)])),
    table(
      t("calls.summary.linesCaption"),
      [
        t("calls.col.type"),
        t("calls.col.country"),
        t("calls.col.calls"),
        t("calls.col.blocked"),
        t("calls.col.minutes"),
        t("calls.col.poolMinutes"),
        t("calls.col.chargedMinutes"),
        t("calls.col.credits"),
      ],
      rows,
      t("calls.summary.noLines"),
    ),
  ];
}

export default {
  path: "/calls",
  title: "calls.title",
  nav: "nav.calls",
  async render(main, ctx) {
    let month = monthFromUrl();
    const pools = h("div", { id: "minute-pools" });
    const summary = h("div", { id: "usage-summary" });
    const problem = h("p", { class: "form-message error", role: "alert", hidden: true });
    const blocked = blockedCalls();
    const recent = recentCalls();

    // The month picker: a list of months and a step back or forward (never past this month).
    const picker = selectField({
      name: "month",
      label: t("calls.month"),
      value: month,
      options: monthChoices(month).map((m) => [m, monthLabel(m)]),
    });
    const previous = h("button", { type: "button" }, t("calls.month.previous"));
    const next = h("button", { type: "button" }, t("calls.month.next"));
    const monthTitles = [];
    const heading = (key) => {
      const el = h("p", { class: "month-of" }, t(key, { month: monthLabel(month) }));
      monthTitles.push([el, key]);
      return el;
    };

    function showProblem(error) {
      problem.hidden = !error;
      problem.textContent = error
        ? `⚠ ${error instanceof ConnectionError ? t("connection.failed") : error.message}`
        : "";
    }

    async function loadMonth() {
      const data = await gql(MONTH_DATA, { month });
      const names = new Map(data.skus.map((s) => [s.skuPartNumber, s.displayName]));
      pools.replaceChildren(poolsBody(data.minutePools, names));
      summary.replaceChildren(...summaryBody(data.usageSummary));
      for (const [el, key] of monthTitles) el.textContent = t(key, { month: monthLabel(month) });
      picker.input.value = month;
      previous.disabled = false;
      next.disabled = month >= currentMonth();
    }

    // Another month: a new history entry (?month=…), the month's parts read again; the
    // back button comes back through the router, which renders the page of that URL.
    async function choose(wanted) {
      if (wanted === month) return;
      month = wanted;
      if (![...picker.input.options].some((o) => o.value === month)) {
        picker.input.append(h("option", { value: month }, monthLabel(month)));
      }
      history.pushState(null, "", `/calls?month=${month}`);
      try {
        await Promise.all([loadMonth(), blocked.show(month)]);
        showProblem(null);
      } catch (error) {
        showProblem(error);
      }
    }
    picker.input.addEventListener("change", () => choose(picker.input.value));
    previous.addEventListener("click", () => choose(addMonths(month, -1)));
    next.addEventListener("click", () => choose(addMonths(month, 1)));

    main.append(
      h("p", { class: "breadcrumb" }, t("calls.breadcrumb")),
      h("h1", null, t("calls.title")),
      h(
        "form",
        { class: "month-picker", "aria-label": t("calls.month.label"), onsubmit: (e) => e.preventDefault() },
        picker.wrap,
        h("div", { class: "actions" }, previous, next),
      ),
      problem,
      section("calls.pools.title", heading("calls.pools.of"), h("p", { class: "hint" }, t("calls.pools.intro")), pools),
      section("calls.summary.title", heading("calls.summary.of"), summary),
      blocked.element,
      recent.element,
      authorizeBox(),
    );
    blocked.element.querySelector("h2").after(heading("calls.blocked.of"));
    await Promise.all([loadMonth(), blocked.show(month), recent.load()]);

    // Live: each rated call on top of the recent calls at once; the month's pools, summary
    // and blocked calls read again when it is of the month shown (bursts cost one re-read).
    let pending = null;
    function refreshSoon() {
      clearTimeout(pending);
      pending = setTimeout(() => {
        const reads = [loadMonth()];
        if (blocked.state.page === 0) reads.push(blocked.load());
        Promise.all(reads).then(() => showProblem(null), showProblem);
      }, 300);
    }
    const stop = subscribe(LIVE, {}, {
      next(data) {
        const call = data && data.callRated;
        if (!call) return;
        recent.add(call);
        if (monthOf(call.startedAt) === month) refreshSoon();
      },
      onReconnect() {
        // Calls rated while the socket was down are not replayed: read them again.
        recent.load().catch(showProblem);
        refreshSoon();
      },
      onSignedOut: () => ctx.signedOut(),
    });
    return () => {
      clearTimeout(pending);
      stop();
    };
  },
};
