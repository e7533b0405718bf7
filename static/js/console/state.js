// What the operator console knows: its engagements and the one on screen. Rendering and the
// socket's frame handlers (console.js) share it; nothing outside the console reaches it.
import { $ } from "../core/dom.js";

export const state = {
  operatorId: JSON.parse($("#operator-id").textContent),
  engagements: new Map(), // id -> {summary, unread, messages: Map(seq -> frame), notes, owners, loaded, ended, typing}
  current: null,
  queues: [],
  served: new Set(),
  watchers: new Map(), // engagement id -> its watchers now (rows of engagement.watchers), watchers.js
  held: new Map(), // engagement id -> {messages, through: the last seq accepting brought}, from accepting its transfer
};

export function entry(id) {
  return state.engagements.get(Number(id));
}

export function addEngagement(summary, unread = 0) {
  const existing = entry(summary.id);
  if (existing) {
    existing.summary = summary;
    existing.ended = false;
    return existing;
  }
  const item = { summary, unread, messages: new Map(), notes: [], owners: [], loaded: false, ended: false, typing: false };
  state.engagements.set(Number(summary.id), item);
  return item;
}

export function lastSeqOf(item) {
  return item.messages.size ? Math.max(...item.messages.keys()) : 0;
}
