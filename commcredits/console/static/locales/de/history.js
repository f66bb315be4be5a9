// German strings of the history area (keys shared with ../en/history.js).
export default {
  "history.title": "Saldo der letzten 90 Tage",
  "history.summary": "Jetzt {now}. In den letzten {days} Tagen lag der Saldo zwischen {low} ({lowDay}) und {high} ({highDay}).",
  "history.summaryFlat": "An jedem der letzten {days} Tage {amount}.",
  "history.none": "Noch kein Saldoverlauf.",
  "history.tableToggle": "Der Saldo am Ende jedes Tages ({n} Tage) als Tabelle",
  "history.tableCaption": "Saldo am Ende jedes Tages (UTC), neueste zuerst",
  "history.colDay": "Tag",
  "history.colBalance": "Saldo",

  "history.filterLabel": "Buchungen filtern",
  "history.filterKinds": "Arten",
  "history.filterReference": "Referenz",
  "history.filterReferenceHint": "Die ganze Referenz, z. B. invoice:3",
  "history.filterFrom": "Von (Datum)",
  "history.filterTo": "Bis (Datum, einschließlich)",
  "history.filterApply": "Filter anwenden",
  "history.filterReset": "Filter zurücksetzen",
  "history.filterToBeforeFrom": "Das Enddatum liegt vor dem Anfangsdatum.",
  "history.filterResult": "{n} Buchungen passen zum Filter.",
  "history.filterNone": "Keine Buchungen passen zum Filter.",
  "history.ledgerCaptionFiltered": "Gefiltert: {n} Buchungen, neueste zuerst",
};
