// Live calls on the supervisor's wallboard (issue 13.4): Listen (muted), Coach (only the operator
// hears you), Barge (three-way), Take over, Leave. Drawn from the wallboard frame's live rows that
// carry a `call` (supervision/frames.py call_row); every act is a frame on /ws/supervisor/, checked
// again on the server. Buttons are real <button>s (keyboard: Tab, Enter/Space). Text via textContent.
import { $, duration, el, replaceKeepingFocus } from "../core/dom.js";

const ROLE_LABEL = { listen: "listening", coach: "coaching", barge: "in the call" };
const ROLE_HINT = {
  listen: "muted: nobody on the call hears you",
  coach: "only the operator hears you; the caller does not",
  barge: "everyone on the call hears you",
};
const ON_CALL = {
  listen: (caller, owner) => `You are listening to ${caller}'s call with ${owner}`,
  coach: (caller, owner) => `You are coaching ${owner} on ${caller}'s call`,
  barge: (caller, owner) => `You are in ${caller}'s call with ${owner}`,
};
const ROLE_BUTTONS = [
  ["listen", "Listen"],
  ["coach", "Coach"],
  ["barge", "Barge"],
];

const secondsSince = (iso) => (iso ? (Date.now() - new Date(iso).getTime()) / 1000 : null);

function supervisorsText(call) {
  return call.supervisors.map((s) => `${s.name} (${ROLE_LABEL[s.role] || s.role})`).join(", ");
}

function button(label, ariaLabel, onClick, className = "btn btn-sm") {
  const node = el("button", className, label);
  node.type = "button";
  node.setAttribute("aria-label", ariaLabel);
  node.addEventListener("click", onClick);
  return node;
}

function actions(engagement, mine, act) {
  const cell = el("td", "sv-actions sv-call-actions");
  if (engagement.state !== "active") {
    cell.append(el("span", "small muted", "Waiting for an operator"));
    return cell;
  }
  const call = engagement.call;
  const who = `${engagement.visitor}'s call`;
  ROLE_BUTTONS.forEach(([role, label]) => {
    const node = button(label, `${label} — ${who}`, () => act({ type: `call.${role}`, call_id: call.id }));
    node.setAttribute("aria-pressed", String(Boolean(mine && mine.role === role)));
    node.dataset.callRole = role;
    cell.append(node);
  });
  cell.append(
    button("Take over", `Take over ${who}`, () =>
      act({ type: "call.take_over", call_id: call.id, expected_owner_id: engagement.owner_id }), "btn btn-sm btn-warn"),
  );
  if (mine) cell.append(button("Leave", `Leave ${who}`, () => act({ type: "call.leave", call_id: call.id }), "btn btn-sm btn-ghost"));
  return cell;
}

// The wallboard's live rows that are calls, as a table; and the banner saying which call the
// supervisor is on and who hears them (their own leg).
export function renderCalls(live, me, act) {
  const calls = live.filter((engagement) => engagement.call);
  let myLeg = null;
  const rows = calls.map((engagement) => {
    const call = engagement.call;
    const mine = call.supervisors.find((s) => s.supervisor_id === me) || null;
    if (mine) myLeg = { engagement, mine };
    const tr = el("tr");
    tr.dataset.callId = call.id;
    if (mine) tr.setAttribute("aria-current", "true");
    const caller = el("th", "", engagement.visitor);
    caller.scope = "row";
    const since = el("td", "num", engagement.since ? duration(secondsSince(engagement.since)) : "—");
    if (engagement.since) since.dataset.since = engagement.since;
    tr.append(
      caller,
      el("td", "", engagement.queue),
      el("td", engagement.owner ? "" : "muted", engagement.owner || "Waiting"),
      since,
      el("td", "small", supervisorsText(call) || "—"),
      actions(engagement, mine, act),
    );
    return tr;
  });
  if (!rows.length) {
    const empty = el("td", "empty", "No live calls right now.");
    empty.colSpan = 6;
    const tr = el("tr");
    tr.append(empty);
    rows.push(tr);
  }
  // Redrawn on every wallboard frame: a supervisor who tabbed to a button keeps their place.
  replaceKeepingFocus($("[data-role=calls]"), rows);
  const banner = $("[data-role=my-call]");
  banner.hidden = !myLeg;
  if (myLeg) {
    const { engagement, mine } = myLeg;
    const said = ON_CALL[mine.role] || ON_CALL.listen;
    $("[data-role=my-call-text]").textContent =
      `${said(engagement.visitor, engagement.owner || "nobody")} — ${ROLE_HINT[mine.role]}.`;
  }
}

export const CALL_DONE = {
  "call.listen": "You are listening (muted).",
  "call.coach": "You are coaching: only the operator hears you.",
  "call.barge": "You are in the call: everyone hears you.",
  "call.leave": "You left the call.",
  "call.take_over": "The call is yours now: it is on your phone console.",
};
