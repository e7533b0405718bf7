// Drawing the phone console from its state: ringing prompts, the call card with its legs and the
// acts the owner may take, the ended note and the call log. User text only via textContent.
import { $, $$, duration, el } from "../core/dom.js";
import { legAct } from "./phone.js";
import { legOf, myLegs, myOpenLeg, OPEN, pickShownCall, state } from "./state.js";
import { renderSupervisors } from "./supervisors.js";

const since = (iso) => (iso ? (Date.now() - new Date(iso).getTime()) / 1000 : 0);
const LEG_STATE = { initiated: "Dialling", ringing: "Ringing…", connected: "Connected", held: "On hold", ended: "Ended" };
const LEG_BADGE = { ringing: "badge-warn", connected: "badge-ok", held: "badge-danger", ended: "" };
const MODE = {
  normal: ["", ""],
  consult: ["Consulting", "badge-warn"],
  conference: ["Conference", "badge-ok"],
  outside: ["With an outside number", ""],
};

export function render() {
  renderPrompts();
  const call = pickShownCall();
  state.shown = call ? call.id : null;
  $("#idle").hidden = Boolean(call) || $("#prompts").children.length > 0;
  $("#call").hidden = !call;
  if (call) renderCall(call);
  [...state.calls.values()].forEach(logIfFinished);
}

function renderPrompts() {
  const area = $("#prompts");
  const ringing = [];
  state.calls.forEach((call) => {
    const leg = myOpenLeg(call);
    if (leg && leg.state === "ringing" && call.state !== "ended") ringing.push([call, leg]);
  });
  const wanted = new Set(ringing.map(([, leg]) => String(leg.id)));
  $$(".prompt", area).forEach((node) => { if (!wanted.has(node.dataset.legId)) node.remove(); });
  ringing.forEach(([call, leg]) => {
    let node = $(`.prompt[data-leg-id="${leg.id}"]`, area);
    if (!node) {
      node = promptCard(call, leg);
      area.append(node);
    }
    node.dataset.deadline = leg.ring_deadline || "";
  });
}

function promptCard(call, leg) {
  const consult = leg.kind === "consult";
  const node = el("div", `prompt ${consult ? "prompt-consult" : "prompt-call"}`);
  node.dataset.legId = leg.id;
  node.dataset.testid = consult ? "consult-prompt" : "call-prompt";
  node.setAttribute("data-testid", consult ? "consult-prompt" : "call-prompt");
  const ring = el("span", "ring", "");
  ring.setAttribute("aria-hidden", "true");
  const text = el("div", "grow");
  const title = el("div", "prompt-title");
  const sub = el("div", "small prompt-sub");
  if (consult) {
    const from = call.legs.find((l) => l.kind === "operator" && OPEN.has(l.state));
    title.textContent = `Consult from ${from ? from.party_name : call.owner_name}`;
    sub.textContent = `About ${call.caller_name} · ${call.queue.name}${leg.queue_name ? ` · via ${leg.queue_name}` : ""} · the customer is on hold`;
    if (leg.reason_name) sub.textContent += ` · Reason: ${leg.reason_name}`;
  } else {
    const transferred = call.legs.some((l) => l.kind === "operator" && l.end_reason && l.operator_id !== state.me);
    title.textContent = `${transferred ? "Transferred call" : "Incoming call"} · ${call.caller_name}`;
    sub.textContent = `${call.queue.name}${call.caller_number ? ` · ${call.caller_number}` : ""}`;
  }
  text.append(title, sub);
  const countdown = el("span", "countdown prompt-countdown", "");
  const answer = el("button", "btn btn-ok", "Answer");
  answer.type = "button";
  answer.setAttribute("data-testid", "answer");
  answer.addEventListener("click", () => legAct(leg.id, "answer"));
  const decline = el("button", "btn btn-danger", "Decline");
  decline.type = "button";
  decline.setAttribute("data-testid", "decline");
  decline.addEventListener("click", () => legAct(leg.id, "decline"));
  node.append(ring, text, countdown, answer, decline);
  return node;
}

const initials = (name) => (name || "?").replace(/[^\p{L}\p{N} ]/gu, "").split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0].toUpperCase()).join("") || "#";

function setLegRow(row, leg, { name, role }) {
  $("[data-role=name]", row).textContent = name;
  $(".leg-icon", row).textContent = leg.kind === "phone" ? "☎" : initials(name);
  if (role !== undefined) $("[data-role=role]", row).textContent = role;
  const badge = $("[data-role=state]", row);
  badge.textContent = LEG_STATE[leg.state] || leg.state;
  badge.className = `badge ${LEG_BADGE[leg.state] || ""}`;
  row.dataset.state = leg.state;
  const start = leg.state === "held" ? leg.held_at : leg.state === "ringing" ? leg.ringing_at : leg.connected_at;
  const sinceNode = $("[data-role=since]", row);
  sinceNode.dataset.since = OPEN.has(leg.state) ? start || "" : "";
  sinceNode.textContent = sinceNode.dataset.since ? duration(since(sinceNode.dataset.since)) : "";
}

function renderCall(call) {
  const mine = myOpenLeg(call);
  const ended = call.state === "ended" || !mine;
  const owner = mine && mine.kind === "operator" && call.owner_id === state.me;
  const target = mine && mine.kind === "consult";
  const customer = call.legs.find((leg) => leg.kind === "customer");
  const consult = legOf(call, ["consult", "phone"]);
  const ownerLeg = legOf(call, ["operator"]);

  $("#call-caller").textContent = call.caller_name;
  $("#call-queue").textContent = call.queue.name;
  $("#call-number").textContent = call.caller_number || "number withheld";
  $("#call-ref").textContent = `#${call.id}`;
  const [modeText, modeClass] = ended ? ["Ended", "badge-danger"] : MODE[call.mode] || ["", ""];
  const mode = $("#call-mode");
  mode.textContent = modeText;
  mode.className = `badge ${modeClass}`;
  mode.hidden = !modeText;
  $("#call").dataset.mode = ended ? "ended" : call.mode;
  const timer = $("#call-timer");
  const lastMine = myLegs(call).filter((leg) => leg.connected_at).pop();
  timer.dataset.since = ended ? "" : (mine && mine.connected_at) || "";
  if (ended) {
    const talked = lastMine && lastMine.ended_at ? (new Date(lastMine.ended_at) - new Date(lastMine.connected_at)) / 1000 : 0;
    timer.textContent = duration(talked);
  }

  setLegRow($("#leg-customer"), customer, { name: call.caller_name });
  const bottom = target ? ownerLeg : consult;
  const bottomRow = $("#leg-consult");
  bottomRow.hidden = ended || !bottom;
  if (bottom) {
    const role = target ? "Consult from" : bottom.kind === "phone" ? "Outside number" : bottom.queue_name ? `Consult · ${bottom.queue_name}` : "Consult";
    setLegRow(bottomRow, bottom, { name: bottom.party_name, role });
  }
  renderSupervisors(call, ended);

  // What the owner may do; the server checks all of it again.
  const show = (selector, visible) => { $$(selector).forEach((node) => { node.hidden = !visible; }); };
  show("[data-act=hold]", owner && call.mode === "normal" && customer.state === "connected");
  show("[data-act=unhold]", owner && call.mode === "normal" && customer.state === "held");
  show("[data-act=hang-up-consult]", owner && Boolean(consult) && call.mode !== "conference");
  show("[data-act=cold-transfer]", owner && call.mode === "consult" && Boolean(consult) && call.queue.cold_transfer_allowed);
  show("[data-act=conference]", owner && call.mode === "consult" && Boolean(consult));
  $("[data-act=conference]").disabled = !(consult && consult.state === "connected");
  $("#conference-bar").hidden = !(owner && call.mode === "conference");
  $("#conference-target").textContent = consult ? consult.party_name : "the other party";
  $("#open-picker").hidden = !(owner && call.mode === "normal");
  $("#call-actions").hidden = ended;
  // The owner hanging up with a consult open hands the customer to the target (the seed's rule),
  // which the consult row's own Hang Up does not: say so on the button, not just "Hang up".
  const hangUp = $("#hang-up");
  hangUp.textContent = target
    ? call.mode === "conference" ? "Leave conference" : "Leave consult"
    : owner && consult ? `Leave — ${consult.party_name} takes the call` : "Hang up";
  hangUp.className = owner && consult ? "btn" : "btn btn-danger"; // red stays for End Conference
  hangUp.title = owner && consult
    ? `You leave; ${call.caller_name} goes to ${consult.party_name}${consult.state === "ringing" ? " when they answer" : ""}.`
    : "";

  const note = $("#target-note");
  note.hidden = !target;
  if (target) {
    const initiator = ownerLeg ? ownerLeg.party_name : call.owner_name;
    $("#target-note-text").textContent = call.mode === "conference"
      ? `Conference with ${initiator} and ${call.caller_name}. ${initiator} is still on the call: once they transfer it, the call is yours and you can transfer it again.`
      : `You are talking with ${initiator}. ${call.caller_name} is on hold and cannot hear you.`;
  }
  const endedNote = $("#ended-note");
  endedNote.hidden = !ended;
  if (ended) $("#ended-text").textContent = endedText(call);
}

export function endedText(call) {
  const last = myLegs(call).filter((leg) => leg.state === "ended").pop();
  // The outside number the call went to (answered, or still ringing with the customer on hold).
  const number = call.legs.filter((leg) => leg.kind === "phone").pop();
  if (last && last.end_reason === "taken_over") return `${call.owner_name || "A supervisor"} took the call over.`;
  if (last && last.end_reason === "transferred") {
    if (number && number.connected_at && call.mode === "outside") return `You transferred the call to ${number.party_name}.`;
    if (number && number.state === "ringing") return `You transferred the call to ${number.party_name}; ${call.caller_name} waits on hold until it answers.`;
    return call.owner_name && call.owner_id !== state.me
      ? `You transferred the call to ${call.owner_name}.`
      : "You transferred the call.";
  }
  if (call.end_reason === "caller_hung_up") return `${call.caller_name} hung up.`;
  if (call.state === "ended") return "The call has ended.";
  if (last && last.kind === "consult") return "The consult has ended.";
  return "You left the call.";
}

function logIfFinished(call) {
  const legs = myLegs(call);
  if (!legs.length || legs.some((leg) => OPEN.has(leg.state)) || state.logged.has(call.id)) return;
  if (!legs.some((leg) => leg.connected_at)) return;
  state.logged.add(call.id);
  const log = $("#call-log");
  const empty = $("[data-role=empty]", log);
  if (empty) empty.remove();
  const item = el("li");
  const text = el("span", "grow");
  text.append(el("span", "log-name", call.caller_name), el("span", "small muted", `${call.queue.name} · ${endedText(call)}`));
  item.append(text, el("span", "small muted", new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })));
  log.prepend(item);
}

export function tick() {
  $$("[data-since]").forEach((node) => {
    if (node.dataset.since) node.textContent = duration(since(node.dataset.since));
  });
  $$(".prompt").forEach((node) => {
    const left = node.dataset.deadline ? -since(node.dataset.deadline) : 0;
    $(".prompt-countdown", node).textContent = left > 0 ? `${Math.ceil(left)} s` : "";
  });
}
