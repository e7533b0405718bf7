// The phone console. State comes from the server: the page's initial calls, every `call.state`
// frame on the operator socket (the whole call each time), and the answers of the acts, which
// are POSTed over HTTP. The DOM is redrawn from that state; user text only via textContent.
import { $, $$, csrfToken, duration, el, toast } from "./dom.js";
import { LiveSocket } from "./socket.js";

const since = (iso) => (iso ? (Date.now() - new Date(iso).getTime()) / 1000 : 0);

const OPEN = new Set(["initiated", "ringing", "connected", "held"]);
const LEG_STATE = { initiated: "Dialling", ringing: "Ringing…", connected: "Connected", held: "On hold", ended: "Ended" };
const LEG_BADGE = { ringing: "badge-warn", connected: "badge-ok", held: "badge-danger", ended: "" };
const MODE = {
  normal: ["", ""],
  consult: ["Consulting", "badge-warn"],
  conference: ["Conference", "badge-ok"],
  outside: ["With an outside number", ""],
};

const state = {
  me: JSON.parse($("#operator-id").textContent),
  calls: new Map(),
  shown: null, // id of the call in the main card
  dismissed: new Set(),
  logged: new Set(),
  pick: null, // {queue_id|operator_id|phone_number, label}
};

async function post(url, body = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error((data.error && data.error.message) || "That did not work. Try again.");
  return data;
}

// --- state -----------------------------------------------------------------------------------

function upsert(call) {
  const known = state.calls.get(call.id);
  if (known && known.version > call.version) return; // an older snapshot arriving late
  state.calls.set(call.id, call);
  if (!known) state.dismissed.delete(call.id);
  render();
}

function myLegs(call) {
  return call.legs.filter((leg) => leg.operator_id === state.me);
}

function myOpenLeg(call) {
  return myLegs(call).find((leg) => OPEN.has(leg.state)) || null;
}

function legOf(call, kinds) {
  const open = call.legs.filter((leg) => kinds.includes(leg.kind) && OPEN.has(leg.state));
  return open[open.length - 1] || null;
}

function pickShownCall() {
  const candidates = [...state.calls.values()].filter((call) => !state.dismissed.has(call.id));
  const active = candidates.filter((call) => {
    const leg = myOpenLeg(call);
    return leg && leg.state !== "ringing";
  });
  if (active.length) return active[0];
  const current = state.calls.get(state.shown);
  if (current && !state.dismissed.has(current.id) && myLegs(current).some((leg) => leg.state !== "ringing" || leg.connected_at)) {
    return current;
  }
  return null;
}

// --- rendering -------------------------------------------------------------------------------

function render() {
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

function endedText(call) {
  const last = myLegs(call).filter((leg) => leg.state === "ended").pop();
  // The outside number the call went to (answered, or still ringing with the customer on hold).
  const number = call.legs.filter((leg) => leg.kind === "phone").pop();
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

function tick() {
  $$("[data-since]").forEach((node) => {
    if (node.dataset.since) node.textContent = duration(since(node.dataset.since));
  });
  $$(".prompt").forEach((node) => {
    const left = node.dataset.deadline ? -since(node.dataset.deadline) : 0;
    $(".prompt-countdown", node).textContent = left > 0 ? `${Math.ceil(left)} s` : "";
  });
}

// --- acts ------------------------------------------------------------------------------------

// No client-side "busy" lock: a frame can show the next button before this answer arrives, and
// a click then must not be swallowed. The server refuses anything that no longer applies.
async function act(url, body) {
  let data;
  try {
    data = await post(url, body);
  } catch (error) {
    toast(error.message, "error");
    throw error;
  }
  if (data.call) upsert(data.call);
  return data;
}

const legAct = (legId, name) => act(`/phone/api/legs/${legId}/${name}/`).catch(() => {});
const callAct = (name, body) => act(`/phone/api/calls/${state.shown}/${name}/`, body);

function confirmAct(title, text, ok, okClass) {
  const dialog = $("#confirm");
  $("#confirm-title").textContent = title;
  $("#confirm-text").textContent = text;
  const button = $("#confirm-ok");
  button.textContent = ok;
  button.className = `btn ${okClass}`;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-act]");
  if (!button || !state.shown) return;
  const call = state.calls.get(state.shown);
  const consult = call && legOf(call, ["consult", "phone"]);
  const name = button.dataset.act;
  const targetName = consult ? consult.party_name : "the other party";
  if (name === "end-conference") {
    const ok = await confirmAct(
      "End the conference for everyone?",
      `End Conference hangs up on everyone: ${call.caller_name}, ${targetName} and you. To hand the call over, use Transfer instead.`,
      "End Conference — hang up on everyone",
      "btn-danger",
    );
    if (!ok) return;
  }
  if (name === "cold-transfer") {
    const ok = await confirmAct(
      "Cold transfer?",
      `${call.caller_name} will be sent to ${targetName} and you will leave the call without introducing them. ` +
        "For the best experience, choose Conference, introduce the customer, then Transfer.",
      "Cold transfer anyway",
      "btn-warn",
    );
    if (!ok) return;
  }
  callAct(name).catch(() => {});
});

$("#hang-up").addEventListener("click", () => {
  const call = state.calls.get(state.shown);
  const leg = call && myOpenLeg(call);
  if (leg) legAct(leg.id, "hang-up");
});

$("#dismiss-call").addEventListener("click", () => {
  state.dismissed.add(state.shown);
  render();
});

// --- Transfer/Conf picker --------------------------------------------------------------------

const picker = $("#picker");
let searchTimer = null;

function choose(pick) {
  state.pick = pick;
  $("#picker-choice").textContent = pick ? `Call ${pick.label}` : "Nothing picked yet.";
  $("#picker-call").disabled = !pick;
  $$(".target-list .list-item").forEach((item) => item.classList.toggle("selected", pick && item.dataset.key === pick.key));
}

function targetItem({ key, title, detail, status, statusText, enabled, pick }) {
  const li = el("li");
  const item = el("button", `list-item target-item${enabled ? "" : " disabled"}`);
  item.type = "button";
  item.dataset.key = key;
  item.disabled = !enabled;
  const dot = el("span", `dot ${status}`);
  const text = el("span", "grow");
  text.append(el("span", "target-name", title), el("span", "small muted target-detail", detail));
  item.append(dot, text, el("span", `badge ${enabled ? "badge-ok" : ""}`, statusText));
  item.addEventListener("click", () => choose(pick));
  li.append(item);
  return li;
}

async function loadTargets() {
  const query = $("#operator-search").value.trim();
  const response = await fetch(`/phone/api/targets/?q=${encodeURIComponent(query)}`, { credentials: "same-origin" });
  if (!response.ok) return;
  const data = await response.json();
  if (!query) renderSkills(data.skills);
  const operators = $("#operator-list");
  operators.replaceChildren(
    ...data.operators.map((op) =>
      targetItem({
        key: `o${op.id}`,
        title: op.name,
        detail: [op.email, op.teams.join(", ")].filter(Boolean).join(" · "),
        status: op.status,
        statusText: op.can_take_call ? "Available" : op.status === "available" ? "On a call" : op.status[0].toUpperCase() + op.status.slice(1),
        enabled: op.can_take_call,
        pick: { key: `o${op.id}`, operator_id: op.id, label: op.name },
      }),
    ),
  );
  if (!data.operators.length) operators.append(el("li", "muted small empty-row", "No operator matches."));
}

function renderSkills(skills) {
  $("#skill-list").replaceChildren(
    ...skills.map((skill) =>
      targetItem({
        key: `s${skill.id}`,
        title: skill.name,
        detail: `${skill.waiting} waiting${skill.waiting ? ` · longest ${duration(skill.longest_wait_seconds)}` : ""} · ${skill.available_operators} available`,
        status: skill.available_operators ? "available" : "offline",
        statusText: skill.available_operators ? `${skill.available_operators} free` : "Nobody free",
        enabled: skill.available_operators > 0,
        pick: { key: `s${skill.id}`, queue_id: skill.id, label: skill.name },
      }),
    ),
  );
  const body = $("#skill-overview tbody");
  body.replaceChildren(
    ...skills.map((skill) => {
      const row = el("tr");
      row.className = skill.waiting ? "has-waiting" : "";
      row.append(el("td", "", skill.name), el("td", "num", String(skill.waiting)), el("td", "num", String(skill.available_operators)));
      return row;
    }),
  );
  if (!skills.length) {
    const row = el("tr");
    const cell = el("td", "muted", "No voice skills.");
    cell.colSpan = 3;
    row.append(cell);
    body.append(row);
  }
}

function showTab(name) {
  $$("#picker [role=tab]").forEach((tab) => tab.setAttribute("aria-selected", String(tab.dataset.tab === name)));
  $$("#picker [data-panel]").forEach((panel) => { panel.hidden = panel.dataset.panel !== name; });
  if (name === "number") {
    $("#phone-number").focus();
    const number = $("#phone-number").value.trim();
    choose(number ? { key: "n", phone_number: number, label: number } : null);
  } else if (name === "operators") {
    $("#operator-search").focus();
  }
}

$("#open-picker").addEventListener("click", () => {
  choose(null);
  $("#picker-error").textContent = "";
  $("#operator-search").value = "";
  showTab("skills");
  loadTargets();
  picker.showModal();
});
$$("#picker [role=tab]").forEach((tab) => tab.addEventListener("click", () => showTab(tab.dataset.tab)));
$("#operator-search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(loadTargets, 200);
});
$("#phone-number").addEventListener("input", (event) => {
  const number = event.target.value.trim();
  choose(number ? { key: "n", phone_number: number, label: number } : null);
});
$("#picker-call").addEventListener("click", async () => {
  const { queue_id, operator_id, phone_number } = state.pick || {};
  $("#picker-error").textContent = "";
  try {
    await post(`/phone/api/calls/${state.shown}/consult/`, { queue_id, operator_id, phone_number }).then((data) => upsert(data.call));
    picker.close();
  } catch (error) {
    $("#picker-error").textContent = error.message;
  }
});

// --- availability and live updates ------------------------------------------------------------

function showVoice(status) {
  $("#voice-status").value = status;
  $("#voice-dot").className = `dot ${status}`;
  $("#voice-hint").textContent = status === "available" ? "Calls to your skills ring here." : "Set Voice to Available to take calls.";
}

$("#voice-status").addEventListener("change", async (event) => {
  try {
    const data = await post("/phone/api/availability/", { status: event.target.value });
    showVoice(data.status);
  } catch (error) {
    toast(error.message, "error");
  }
});

async function refresh() {
  const response = await fetch("/phone/api/current/", { credentials: "same-origin" });
  if (!response.ok) return;
  const data = await response.json();
  data.calls.forEach((call) => {
    const known = state.calls.get(call.id);
    if (!known || known.version <= call.version) state.calls.set(call.id, call);
  });
  if (data.voice) showVoice(data.voice.status);
  render();
}

new LiveSocket("/ws/operator/", {
  onFrame: (frame) => {
    if (frame.type === "call.state") upsert(frame.call);
    else if (frame.type === "availability" && frame.operator_id === state.me && frame.media === "voice") showVoice(frame.status);
    else if (frame.type === "queues.changed" || frame.type === "availability") scheduleTargets();
  },
  onStatus: (status) => {
    const conn = $("#conn");
    conn.classList.toggle("down", status !== "open");
    $("[data-role=text]", conn).textContent = status === "open" ? "Connected" : status === "connecting" ? "Connecting…" : "Offline — reconnecting";
    if (status === "open") refresh(); // catch up on anything missed while disconnected
  },
});

let targetsTimer = null;
function scheduleTargets() {
  clearTimeout(targetsTimer);
  targetsTimer = setTimeout(loadTargets, 300);
}

JSON.parse($("#calls-data").textContent).forEach((call) => state.calls.set(call.id, call));
render();
loadTargets();
setInterval(tick, 1000);
setInterval(loadTargets, 15000);
tick();
window.phoneConsole = { state };
