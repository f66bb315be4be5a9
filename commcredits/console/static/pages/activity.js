// Notifications and audit log: the tenant's notifications (kind in words, payload summed up,
// when, webhook delivery), newest first by Relay cursor pages, new ones put on top as they
// arrive over the notificationAdded subscription and announced politely; and the audit log
// (activity-audit.js). Reading only: a READER sees all of it.
import { gql } from "../api.js";
import { auditSection } from "../activity-audit.js";
import { deliveryBadge, kindText, payloadText } from "../activity-format.js";
import { cursorTable } from "../activity-pager.js";
import { h, section } from "../dom.js";
import { dateTime, t, total } from "../i18n.js";
import { reread, subscribe } from "../live.js";

const PAGE = 10;
const FIELDS = "id kind payload createdAt deliveryStatus";

const NOTIFICATIONS = `query ActivityNotifications($first: Int!, $after: String) {
  tenant { currency }
  notifications(first: $first, after: $after) {
    totalCount
    totalCountIsCapped
    pageInfo { hasNextPage endCursor }
    nodes { ${FIELDS} }
  }
}`;

const LIVE = `subscription LiveNotifications { notificationAdded { ${FIELDS} } }`;

function notificationsSection() {
  let currency = null;
  const announce = h("p", { id: "notifications-live", class: "activity-live", "aria-live": "polite" });
  const pager = cursorTable({
    id: "notifications",
    size: PAGE,
    async fetchPage(first, after) {
      const data = await gql(NOTIFICATIONS, { first, after });
      currency = data.tenant ? data.tenant.currency : null;
      return data.notifications;
    },
    caption: (conn) => t("activity.notificationsCaption", { n: total(conn) }),
    headers: () => [t("activity.colWhen"), t("activity.colKind"), t("activity.colDetails"), t("activity.colDelivery")],
    row: (n, fresh) => [
      dateTime(n.createdAt),
      h("span", null, fresh ? h("span", { class: "activity-new" }, t("activity.new")) : null, fresh ? " " : null, kindText(n.kind)),
      payloadText(n.kind, n.payload, currency),
      deliveryBadge(n.deliveryStatus),
    ],
    empty: () => t("activity.notificationsNone"),
    pagesLabel: () => t("activity.notificationsPages"),
  });
  function added(node) {
    pager.prepend(node);
    announce.textContent = t("activity.arrived", { kind: kindText(node.kind), details: payloadText(node.kind, node.payload, currency) });
  }
  return {
    element: section("activity.notifications", announce, pager.body),
    load: pager.load,
    added,
    onTop: () => pager.state.page === 0,
  };
}

export default {
  path: "/activity",
  title: "activity.title",
  nav: "nav.activity",
  async render(main, ctx) {
    const notes = notificationsSection();
    const audit = auditSection();
    main.append(h("h1", null, t("activity.title")), h("p", { class: "activity-intro" }, t("activity.intro")), notes.element, audit.element);
    await Promise.all([notes.load(), audit.load()]);

    const stop = subscribe(LIVE, {}, {
      next(data) {
        const node = data && data.notificationAdded;
        if (node) notes.added(node);
      },
      // Events while the socket was down are not replayed: read the first page again.
      onReconnect: () => {
        if (notes.onTop()) reread(notes.load(), { onSignedOut: () => ctx.signedOut() });
      },
      onSignedOut: () => ctx.signedOut(),
    });
    return stop;
  },
};
