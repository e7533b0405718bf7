// Who is watching my chats: the supervisors monitoring (or in) an engagement, from the
// `engagement.watchers` frames supervision sends to the owner's console (docs/realtime.md,
// "Who is watching"). The console's `hello` cannot carry them (the core does not import
// supervision), so after every `hello` the console asks /supervisor/watching/ and redraws.
import { $, el } from "../core/dom.js";
import { get } from "../core/http.js";
import { state } from "./state.js";

const DOING = { watch: null, barge: "is in the chat", listen: "is listening", coach: "is coaching" };

// Live frames counted, so an answer to a request sent before a frame never undoes that frame.
let framesSeen = 0;
const frameSeenAt = new Map(); // engagement id -> framesSeen when its last frame arrived

export function watchersOf(id) {
  return state.watchers.get(Number(id)) || [];
}

/** "Watched by Sam Lead (supervisor)", "Sam Lead (supervisor) is in the chat"; "" when nobody is. */
export function watchersText(rows) {
  const watching = rows.filter((row) => !DOING[row.mode]).map((row) => row.name);
  const parts = [];
  if (watching.length) parts.push(`Watched by ${joinNames(watching)} (${watching.length > 1 ? "supervisors" : "supervisor"})`);
  rows.filter((row) => DOING[row.mode]).forEach((row) => parts.push(`${row.name} (supervisor) ${DOING[row.mode]}`));
  return parts.join("; ");
}

function joinNames(names) {
  return names.length < 3 ? names.join(" and ") : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

/** The eye badge of a chat-list row: the icon for the eye, the words for screen readers. */
export function listBadge(id) {
  const text = watchersText(watchersOf(id));
  if (!text) return null;
  const badge = el("span", "watch-badge watch-badge-small");
  badge.title = text;
  badge.dataset.testid = "watch-badge";
  badge.append(eye(), el("span", "visually-hidden", text));
  return badge;
}

// The header's live region stays in the page (a region added with its text is often not read);
// only what is inside it changes.
export function renderWatchers(id, { announceEnd = false } = {}) {
  const region = $("#watchers");
  if (!region) return;
  const text = id ? watchersText(watchersOf(id)) : "";
  if (!text) {
    if (announceEnd) region.replaceChildren(el("span", "visually-hidden", "No supervisor is watching now."));
    else region.replaceChildren();
    return;
  }
  const badge = el("span", "watch-badge");
  badge.dataset.testid = "watchers-badge";
  badge.append(eye(), el("span", "", text));
  region.replaceChildren(badge);
}

// An eye drawn in SVG: an emoji depends on the machine's fonts (a box where there is none).
const SVG = "http://www.w3.org/2000/svg";
function eye() {
  const icon = document.createElementNS(SVG, "svg");
  icon.setAttribute("class", "watch-eye");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("aria-hidden", "true");
  icon.setAttribute("focusable", "false");
  const outline = document.createElementNS(SVG, "path");
  outline.setAttribute("d", "M1.5 12S5.5 4.5 12 4.5 22.5 12 22.5 12 18.5 19.5 12 19.5 1.5 12 1.5 12Z");
  const pupil = document.createElementNS(SVG, "circle");
  pupil.setAttribute("cx", "12");
  pupil.setAttribute("cy", "12");
  pupil.setAttribute("r", "3.5");
  icon.append(outline, pupil);
  return icon;
}

/** A live frame: the list of watchers now. Returns whether it changed who is shown. */
export function applyWatchersFrame(frame) {
  framesSeen += 1;
  frameSeenAt.set(Number(frame.engagement_id), framesSeen);
  return setWatchers(frame);
}

function setWatchers(frame) {
  const id = Number(frame.engagement_id);
  const before = watchersText(watchersOf(id));
  if (frame.watchers.length) state.watchers.set(id, frame.watchers);
  else state.watchers.delete(id);
  return before !== watchersText(watchersOf(id));
}

/** After a (re)connect: who watches each of my live chats now. `redraw(changedIds)` draws them. */
export async function resyncWatchers(redraw) {
  const asked = framesSeen;
  let data;
  try {
    data = await get("/supervisor/watching/");
  } catch {
    return; // the badges keep what the live frames said; the next hello asks again
  }
  const changed = data.engagements
    .filter((frame) => (frameSeenAt.get(Number(frame.engagement_id)) || 0) <= asked)
    .filter(setWatchers)
    .map((frame) => Number(frame.engagement_id));
  if (changed.length) redraw(changed);
}

export function forgetWatchers(id) {
  state.watchers.delete(Number(id));
  frameSeenAt.delete(Number(id));
}
