// What the transfers module knows in the console: the latest transfer of each engagement the
// operator started, deadlines, open prompts, drafts of the warm message, the dialog's pick.
// The engagement on screen comes from the console's bus ("engagement-selected").
import { $, duration } from "../core/dom.js";

export const minutes = (seconds) =>
  seconds % 60 ? duration(seconds) : `${seconds / 60} minute${seconds === 60 ? "" : "s"}`;
export const OPEN = new Set(["requested", "accepted"]);

export const state = {
  byEngagement: new Map(), // engagement id -> latest transfer payload the initiator knows
  deadlines: new Map(), // transfer id -> local ms timestamp of its deadline
  handOverDeadlines: new Map(), // accepted transfer id -> local ms by which Transfer Now must come
  waitingSince: new Map(), // transfer id -> local ms when it started waiting in a queue
  prompts: new Map(), // transfer id -> prompt node (incoming offers)
  drafts: loadDrafts(), // engagement id -> warm message draft
  tab: "operators",
  picked: null, // {kind: "operator"|"queue", id, name}
  dialogEngagement: null,
  targets: null,
  snapshots: new Map(), // engagement id -> {nodes, visitor}
  history: new Map(), // engagement id -> rows
  handled: new Set(), // "transfer id:state" this console has announced (or was told by its own act)
  recent: [], // my transfers completed lately: rows of /transfers/recent/
  readonlyOpener: null, // the "Transferred recently" button that opened the read-only copy
  lastFocus: null,
  currentEngagement: null, // the engagement on screen in the console
};

export const currentId = () => state.currentEngagement;

function loadDrafts() {
  try {
    return new Map(Object.entries(JSON.parse(sessionStorage.getItem("transfer-drafts") || "{}")));
  } catch {
    return new Map();
  }
}
export function saveDraft(engagementId, text) {
  if (text) state.drafts.set(String(engagementId), text);
  else state.drafts.delete(String(engagementId));
  try {
    sessionStorage.setItem("transfer-drafts", JSON.stringify(Object.fromEntries(state.drafts)));
  } catch {
    // private mode: the draft still lives in memory
  }
}

export function openTransferOf(engagementId) {
  const transfer = state.byEngagement.get(Number(engagementId));
  return transfer && OPEN.has(transfer.state) ? transfer : null;
}

export function remember(transfer, { asInitiator = true } = {}) {
  if (asInitiator) {
    const previous = state.byEngagement.get(transfer.engagement_id);
    if (previous && previous.id > transfer.id) return previous; // an older transfer's late frame
    state.byEngagement.set(transfer.engagement_id, transfer);
  }
  if (transfer.seconds_left !== null && transfer.seconds_left !== undefined) {
    state.deadlines.set(transfer.id, Date.now() + transfer.seconds_left * 1000);
  } else {
    state.deadlines.delete(transfer.id);
  }
  if (transfer.hand_over_seconds_left !== null && transfer.hand_over_seconds_left !== undefined) {
    state.handOverDeadlines.set(transfer.id, Date.now() + transfer.hand_over_seconds_left * 1000);
  } else {
    state.handOverDeadlines.delete(transfer.id);
  }
  if (transfer.waiting_in_queue) {
    state.waitingSince.set(transfer.id, Date.now() - (transfer.waiting_seconds || 0) * 1000);
  }
  return transfer;
}

export function myId() {
  const node = $("#operator-id");
  return node ? JSON.parse(node.textContent) : null;
}

export function visitorName() {
  return $("#visitor-name")?.textContent || "this visitor";
}
