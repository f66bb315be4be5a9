// English strings of the history area (keys shared with ../de/history.js).
export default {
  "history.title": "Balance, last 90 days",
  "history.summary": "Now {now}. Over the last {days} days the lowest was {low} ({lowDay}), the highest {high} ({highDay}).",
  "history.summaryFlat": "{amount} on each of the last {days} days.",
  "history.none": "No balance history yet.",
  "history.tableToggle": "The balance at the end of each day ({n} days) as a table",
  "history.tableCaption": "Balance at the end of each day (UTC), newest first",
  "history.colDay": "Day",
  "history.colBalance": "Balance",

  "history.filterLabel": "Filter the ledger",
  "history.filterKinds": "Kinds",
  "history.filterReference": "Reference",
  "history.filterReferenceHint": "The whole reference, e.g. invoice:3",
  "history.filterFrom": "From (date)",
  "history.filterTo": "To (date, included)",
  "history.filterApply": "Apply filter",
  "history.filterReset": "Reset filter",
  "history.filterToBeforeFrom": "The end date is before the start date.",
  "history.filterResult": "{n} entries match the filter.",
  "history.filterNone": "No entries match the filter.",
  "history.ledgerCaptionFiltered": "Filtered: {n} entries, newest first",
};
