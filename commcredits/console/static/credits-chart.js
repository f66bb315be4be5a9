// "Balance, last 90 days" on the credits page: the points of `balance { history(days: 90) }`
// drawn with uPlot (vendored by scripts/refresh_uplot.py; a canvas, so the page's CSP has no
// style to allow), and told without the picture too: the canvas is an image whose label sums
// it up (now, lowest, highest), the same words are on the page, and a <details> holds every
// point as a table. Days are UTC days (the API's), so they are shown in UTC; money is in the
// tenant's currency and the language's format. The chart is drawn again when the page re-reads
// (a live balance change) and made anew when the language changes (the page re-renders).
import uPlot from "./vendor/uplot/uPlot.min.js";
import { h, table, uid } from "./dom.js";
import { locale, money, number, t } from "./i18n.js";

const HEIGHT = 260;
const LINE = "#0a5cad"; // the console's --accent; one series, so nothing is told by colour

export const HISTORY_FIELDS = "history(days: 90) { date balance { amount currency } }";

function utcSeconds(day) {
  const [y, m, d] = day.split("-").map(Number);
  return Date.UTC(y, m - 1, d) / 1000;
}

function formats(currency) {
  const loc = locale();
  const long = new Intl.DateTimeFormat(loc, { dateStyle: "medium", timeZone: "UTC" });
  const short = new Intl.DateTimeFormat(loc, { day: "numeric", month: "short", timeZone: "UTC" });
  const axisMoney = new Intl.NumberFormat(loc, { style: "currency", currency, maximumFractionDigits: 0 });
  return {
    day: (seconds) => long.format(new Date(seconds * 1000)),
    dayShort: (seconds) => short.format(new Date(seconds * 1000)),
    axisMoney: (value) => axisMoney.format(value),
  };
}

// The words for the picture: today's balance, the lowest and highest with their days.
function summary(points, currency, fmt) {
  if (!points.length) return t("history.none");
  let low = points[0];
  let high = points[0];
  for (const p of points) {
    if (Number(p.balance.amount) < Number(low.balance.amount)) low = p;
    if (Number(p.balance.amount) > Number(high.balance.amount)) high = p;
  }
  const now = points[points.length - 1];
  if (Number(low.balance.amount) === Number(high.balance.amount)) {
    return t("history.summaryFlat", { days: number(points.length), amount: money(now.balance.amount, currency) });
  }
  return t("history.summary", {
    days: number(points.length),
    now: money(now.balance.amount, currency),
    low: money(low.balance.amount, currency),
    lowDay: fmt.day(utcSeconds(low.date)),
    high: money(high.balance.amount, currency),
    highDay: fmt.day(utcSeconds(high.date)),
  });
}

// Sizes the money axis to its longest label (uPlot's own recipe), so "1.234 €" is not cut.
function axisSize(self, values, axisIdx, cycleNum) {
  const axis = self.axes[axisIdx];
  if (cycleNum > 1) return axis._size;
  let size = axis.ticks.size + axis.gap;
  const longest = (values || []).reduce((a, v) => (String(v).length > a.length ? String(v) : a), "");
  if (longest) {
    self.ctx.font = axis.font[0];
    size += self.ctx.measureText(longest).width / devicePixelRatio;
  }
  return Math.ceil(size);
}

function options(width, currency, fmt) {
  return {
    width,
    height: HEIGHT,
    tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), "UTC"),
    series: [
      { label: t("history.colDay"), value: (_u, v) => (v === null ? "—" : fmt.day(v)) },
      {
        label: t("history.colBalance"),
        stroke: LINE,
        width: 2,
        fill: "rgba(10, 92, 173, 0.08)",
        points: { show: false },
        paths: uPlot.paths.stepped({ align: 1 }), // a balance holds until the next entry
        value: (_u, v) => (v === null ? "—" : money(v, currency)),
      },
    ],
    axes: [
      {
        stroke: "#50505a",
        grid: { stroke: "#e4e4ea" },
        space: 80, // room for "15. Sept." between two labels
        values: (_u, splits) => splits.map(fmt.dayShort),
      },
      {
        stroke: "#50505a",
        grid: { stroke: "#e4e4ea" },
        size: axisSize,
        values: (_u, splits) => splits.map(fmt.axisMoney),
      },
    ],
    scales: {
      y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] },
    },
    legend: { show: true, live: true },
  };
}

// { element, draw(points), destroy() }: the section, filled by draw() with the API's points.
export function historyChart() {
  const headingId = uid("history");
  const summaryId = uid("history-summary");
  const plotBox = h("div", { class: "history-plot" });
  const words = h("p", { id: summaryId, class: "history-summary" });
  const details = h("details", { class: "history-details" });
  const element = h(
    "section",
    { class: "history", id: "balance-history", "aria-labelledby": headingId },
    h("h2", { id: headingId }, t("history.title")),
    words,
    plotBox,
    details,
  );
  let plot = null;
  let plotCurrency = null;
  let observer = null;

  function width() {
    return Math.max(280, Math.floor(plotBox.getBoundingClientRect().width) || 640);
  }

  function draw(points) {
    const currency = points.length ? points[0].balance.currency : "EUR";
    const fmt = formats(currency);
    const data = [points.map((p) => utcSeconds(p.date)), points.map((p) => Number(p.balance.amount))];
    const text = summary(points, currency, fmt);
    words.textContent = text;
    if (!plot || plotCurrency !== currency) {
      destroy();
      plot = new uPlot(options(width(), currency, fmt), data, plotBox);
      plotCurrency = currency;
      if (typeof ResizeObserver === "function") {
        observer = new ResizeObserver(() => {
          if (plot && plot.width !== width()) plot.setSize({ width: width(), height: HEIGHT });
        });
        observer.observe(plotBox);
      }
    } else {
      plot.setData(data);
    }
    const canvas = plotBox.querySelector("canvas");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `${t("history.title")}: ${text}`);
    const rows = [...points].reverse().map((p) => [fmt.day(utcSeconds(p.date)), money(p.balance.amount, p.balance.currency)]);
    details.replaceChildren(
      h("summary", null, t("history.tableToggle", { n: number(points.length) })),
      table(t("history.tableCaption"), [t("history.colDay"), t("history.colBalance")], rows, t("history.none")),
    );
  }

  function destroy() {
    if (observer) observer.disconnect();
    observer = null;
    if (plot) plot.destroy();
    plot = null;
  }

  return { element, draw, destroy };
}
