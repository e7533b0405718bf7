// Transfer/Conf: pick a skill (queue), an operator or type a phone number, then Call — the
// customer goes on hold and a consult leg rings the target. Also the skills overview table.
import { $, $$, duration, el } from "../core/dom.js";
import { get, post } from "../core/http.js";
import { renderReasonField } from "../core/reasons.js";
import { state, upsert } from "./state.js";

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

export async function loadTargets() {
  const query = $("#operator-search").value.trim();
  let data;
  try {
    const call = state.shown ? `&call=${state.shown}` : "";
    data = await get(`/phone/api/targets/?q=${encodeURIComponent(query)}${call}`);
  } catch {
    return; // the next frame or the 15 s refresh tries again
  }
  if (!query) renderSkills(data.skills);
  renderReasons(data.reasons || [], data.reason_required);
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

/** The call's queue's transfer reasons. */
function renderReasons(reasons, required) {
  renderReasonField($("[data-role=reason-field]", picker), $("#picker-reason"), reasons, required);
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
  $("#picker-reason").value = "";
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
  const reason = $("#picker-reason").value;
  const body = { queue_id, operator_id, phone_number, reason_id: reason ? Number(reason) : null };
  $("#picker-error").textContent = "";
  try {
    await post(`/phone/api/calls/${state.shown}/consult/`, body).then((data) => upsert(data.call));
    picker.close();
  } catch (error) {
    $("#picker-error").textContent = error.message;
  }
});

let targetsTimer = null;
/** The lists again in a moment: queues and availability move. */
export function scheduleTargets() {
  clearTimeout(targetsTimer);
  targetsTimer = setTimeout(loadTargets, 300);
}
