// A supervisor's leg on the operator's call (issue 13.4), and what it means for who hears them:
// listening (muted), coaching (only the owner hears them), in the call (everyone does). Drawn from
// the legs of kind "supervisor" in `call.state` (role, heard_by). Text via textContent.
import { $, el } from "../core/dom.js";
import { OPEN, state } from "./state.js";

const ROLE = {
  listen: ["listening", "Muted: nobody hears them."],
  coach: ["coaching", "Only you hear them; the caller does not."],
  barge: ["in the call", "Everyone on the call hears them."],
};

function hint(call, leg) {
  if (leg.role !== "coach") return ROLE[leg.role][1];
  // Only the owner hears a coach: say so to the owner, and to anyone else on the call who it is.
  return call.owner_id === state.me ? ROLE.coach[1] : `Only ${call.owner_name} hears them; the caller does not.`;
}

export function renderSupervisors(call, ended) {
  const list = $("#leg-supervisors");
  const legs = ended ? [] : call.legs.filter((leg) => leg.kind === "supervisor" && OPEN.has(leg.state));
  list.hidden = !legs.length;
  list.replaceChildren(...legs.map((leg) => {
    const [label] = ROLE[leg.role] || [leg.role];
    const item = el("li", "leg leg-supervisor");
    item.dataset.legId = leg.id;
    item.dataset.role = leg.role;
    item.setAttribute("data-testid", "leg-supervisor");
    const icon = el("span", "leg-icon", "S");
    icon.setAttribute("aria-hidden", "true");
    const text = el("div", "grow");
    const name = el("div", "leg-name");
    name.append(el("span", "", `Supervisor ${leg.party_name} ${label}`));
    text.append(name, el("div", "small muted", hint(call, leg)));
    item.append(icon, text);
    return item;
  }));
}
