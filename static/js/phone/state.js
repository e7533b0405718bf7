// What the phone console knows: every call it has seen (the whole call, as the server sends it
// in each `call.state` frame and act answer), the one in the main card, the Transfer/Conf pick.
import { $ } from "../core/dom.js";
import { render } from "./render.js";

export const OPEN = new Set(["initiated", "ringing", "connected", "held"]);

export const state = {
  me: JSON.parse($("#operator-id").textContent),
  calls: new Map(),
  shown: null, // id of the call in the main card
  dismissed: new Set(),
  logged: new Set(),
  pick: null, // {queue_id|operator_id|phone_number, label}
};

export function upsert(call) {
  const known = state.calls.get(call.id);
  if (known && known.version > call.version) return; // an older snapshot arriving late
  state.calls.set(call.id, call);
  if (!known) state.dismissed.delete(call.id);
  render();
}

export function myLegs(call) {
  return call.legs.filter((leg) => leg.operator_id === state.me);
}

export function myOpenLeg(call) {
  return myLegs(call).find((leg) => OPEN.has(leg.state)) || null;
}

export function legOf(call, kinds) {
  const open = call.legs.filter((leg) => kinds.includes(leg.kind) && OPEN.has(leg.state));
  return open[open.length - 1] || null;
}

export function pickShownCall() {
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
