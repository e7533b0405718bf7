// The phone console. State comes from the server: the page's initial calls, every `call.state`
// frame on the operator socket (the whole call each time), and the answers of the acts, which
// are POSTed over HTTP (core/http.js). The DOM is redrawn from that state (render.js); the
// Transfer/Conf picker is picker.js. User text only via textContent.
import { emit } from "../core/bus.js";
import { $ } from "../core/dom.js";
import { get, post, toastError } from "../core/http.js";
import { LiveSocket } from "../core/socket.js";
import { loadTargets, scheduleTargets } from "./picker.js";
import { render, tick } from "./render.js";
import { legOf, myOpenLeg, state, upsert } from "./state.js";

// --- acts ------------------------------------------------------------------------------------

// No client-side "busy" lock: a frame can show the next button before this answer arrives, and
// a click then must not be swallowed. The server refuses anything that no longer applies.
async function act(url, body) {
  let data;
  try {
    data = await post(url, body);
  } catch (error) {
    toastError(error);
    throw error;
  }
  if (data.call) upsert(data.call);
  return data;
}

export const legAct = (legId, name) => act(`/phone/api/legs/${legId}/${name}/`).catch(() => {});
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
    toastError(error);
  }
});

async function refresh() {
  let data;
  try {
    data = await get("/phone/api/current/");
  } catch {
    return; // the next (re)connect catches up
  }
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
    emit("frame", frame); // the wrap-up panels (console/wrapup.js) follow the same socket
  },
  onStatus: (status) => {
    const conn = $("#conn");
    conn.classList.toggle("down", status !== "open");
    $("[data-role=text]", conn).textContent = status === "open" ? "Connected" : status === "connecting" ? "Connecting…" : "Offline — reconnecting";
    if (status === "open") refresh(); // catch up on anything missed while disconnected
  },
});


JSON.parse($("#calls-data").textContent).forEach((call) => state.calls.set(call.id, call));
render();
loadTargets();
setInterval(tick, 1000);
setInterval(loadTargets, 15000);
tick();
