// The caller simulator: place a call into a voice queue, see your own leg's state (polled once
// a second), hang up; and an outside line that answers calls to a number. Text via textContent.
// Requests go through core/http.js.
import { $, duration, el } from "../core/dom.js";
import { get, post as send } from "../core/http.js";

const STATUS = {
  ringing: "Waiting for an operator…",
  initiated: "Dialling…",
  connected: "Connected",
  held: "On hold — please wait",
  ended: "Call ended",
};
const ENDED = {
  caller_hung_up: "You hung up.",
  abandoned: "You hung up before anyone answered.",
  operator_ended: "The operator ended the call.",
  call_ended: "The call has ended.",
};

let token = sessionStorage.getItem("caller-token");
let startedAt = null;
let pollTimer = null;

function show(call) {
  const leg = call.leg;
  const ended = call.state === "ended" || leg.state === "ended";
  $("#screen-line").textContent = call.queue;
  let status = STATUS[leg.state] || leg.state;
  if (leg.state === "connected" && call.operator_name) status = `Connected with ${call.operator_name}`;
  if (ended) status = `Call ended — ${ENDED[call.end_reason] || "goodbye."}`;
  $("#screen-status").textContent = status;
  // Only who the caller would hear: a supervisor who barged in, never one listening or coaching.
  const also = ended ? [] : call.also_on_call || [];
  $("#screen-also").textContent = also.length ? `Also on the call: ${also.map((name) => `${name} (supervisor)`).join(", ")}` : "";
  $("#screen-status").dataset.state = ended ? "ended" : leg.state;
  if (leg.state === "connected" && !startedAt) startedAt = Date.now();
  $("#dial").hidden = !ended;
  $("#in-call").hidden = ended;
  if (ended) {
    sessionStorage.removeItem("caller-token");
    token = null;
    startedAt = null;
    clearInterval(pollTimer);
  }
}

async function poll() {
  if (!token) return;
  let data;
  try {
    data = await get(`/phone/simulator/api/calls/${token}/`);
  } catch {
    return; // polled again in a second
  }
  show(data.call);
}

function follow() {
  clearInterval(pollTimer);
  pollTimer = setInterval(poll, 1000);
  poll();
}

$("#dial").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("#caller-error").textContent = "";
  try {
    const data = await send("/phone/simulator/api/calls/", {
      queue_id: $("#queue").value,
      name: $("#caller-name").value,
      phone_number: $("#caller-number").value,
    });
    token = data.token;
    sessionStorage.setItem("caller-token", token);
    show(data.call);
    follow();
  } catch (error) {
    $("#caller-error").textContent = error.message;
  }
});

$("#hang-up").addEventListener("click", async () => {
  if (!token) return;
  try {
    show((await send(`/phone/simulator/api/calls/${token}/hang-up/`)).call);
  } catch (error) {
    $("#caller-error").textContent = error.message;
  }
});

setInterval(() => {
  $("#screen-timer").textContent = startedAt ? duration((Date.now() - startedAt) / 1000) : "";
}, 1000);

// --- outside line ---------------------------------------------------------------------------

let outsideTimer = null;

async function watchOutside() {
  const number = $("#outside-number").value.trim();
  let data;
  try {
    data = await get(`/phone/simulator/api/outside/?number=${encodeURIComponent(number)}`);
  } catch (error) {
    data = { error };
  }
  $("#outside-error").textContent = data.error ? data.error.message : "";
  const list = $("#outside-legs");
  list.replaceChildren();
  (data.legs || []).forEach((leg) => {
    const item = el("li");
    item.append(el("span", "grow", `Call from the helpdesk · leg ${leg.id}`), el("span", "badge", leg.state === "ringing" ? "Ringing…" : STATUS[leg.state] || leg.state));
    if (leg.state === "ringing") item.append(outsideButton(leg, "answer", "Answer", "btn-ok"));
    item.append(outsideButton(leg, "hang-up", leg.state === "ringing" ? "Reject" : "Hang up", "btn-danger"));
    list.append(item);
  });
  if (!data.error && !(data.legs || []).length) list.append(el("li", "muted small", "No call to this number right now."));
}

function outsideButton(leg, act, label, cls) {
  const button = el("button", `btn btn-sm ${cls}`, label);
  button.type = "button";
  button.addEventListener("click", async () => {
    try {
      await send(`/phone/simulator/api/outside/legs/${leg.id}/${act}/`);
    } catch (error) {
      $("#outside-error").textContent = error.message;
    }
    watchOutside();
  });
  return button;
}

$("#outside").addEventListener("submit", (event) => {
  event.preventDefault();
  clearInterval(outsideTimer);
  watchOutside();
  outsideTimer = setInterval(watchOutside, 1500);
});

if (token) follow();
