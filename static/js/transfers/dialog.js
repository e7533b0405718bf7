// The transfer dialog: operators (availability per media, search, site filter) or queues
// (waiting, current wait), the warm message, Start. Keyboard: tabs with arrows, a listbox per tab,
// Tab kept inside the modal.
import { $, $$, duration, el } from "../core/dom.js";
import { get, post } from "../core/http.js";
import { renderReasonField } from "../core/reasons.js";
import { onInitiatorUpdate } from "./outcome.js";
import { currentId, saveDraft, state, visitorName } from "./state.js";

const MEDIA = [["chat", "Chat"], ["voice", "Voice"], ["video", "Video"]];
export const dialog = $("#transfer-dialog");
const resultDialog = $("#transfer-result");
const openButton = $("#transfer-open");

openButton.addEventListener("click", () => openDialog());

export function openDialog({ keepPick = false } = {}) {
  const id = currentId();
  if (!id) return;
  state.dialogEngagement = id;
  state.lastFocus = document.activeElement;
  if (!keepPick) state.picked = null;
  $("[data-role=subtitle]", dialog).textContent = `${visitorName()} · #${id}`;
  $("#transfer-warm").value = state.drafts.get(String(id)) || "";
  if (!keepPick) $("#transfer-reason").value = "";
  showError("");
  selectTab(state.tab, false);
  if (!dialog.open) dialog.showModal();
  $("#transfer-search").focus();
  loadTargets();
}

export function closeDialog() {
  if (dialog.open) dialog.close();
}

dialog.addEventListener("close", () => {
  if (state.lastFocus && document.contains(state.lastFocus)) state.lastFocus.focus();
});

$$("[data-act=close]", dialog).forEach((button) => button.addEventListener("click", closeDialog));
dialog.addEventListener("click", (event) => {
  if (event.target === dialog) closeDialog(); // a click on the backdrop
});

$("#transfer-warm").addEventListener("input", (event) => saveDraft(state.dialogEngagement, event.target.value));

function showError(text) {
  const node = $("[data-role=error]", dialog);
  node.textContent = text;
  node.hidden = !text;
}

function selectTab(tab, focus = true) {
  state.tab = tab;
  $$("[role=tab]", dialog).forEach((button) => {
    const selected = button.dataset.tab === tab;
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
    if (selected && focus) button.focus();
  });
  $("#transfer-panel-operators").hidden = tab !== "operators";
  $("#transfer-panel-queues").hidden = tab !== "queues";
  $("[data-role=search-field]", dialog).hidden = tab !== "operators";
  if (state.picked && state.picked.kind !== (tab === "operators" ? "operator" : "queue")) state.picked = null;
  renderPick();
}

$$("[role=tab]", dialog).forEach((button) => {
  button.addEventListener("click", () => selectTab(button.dataset.tab));
  button.addEventListener("keydown", (event) => {
    if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      event.preventDefault();
      selectTab(state.tab === "operators" ? "queues" : "operators");
    }
  });
});

let searchTimer = null;
$("#transfer-search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(loadTargets, 200);
});
$("#transfer-site").addEventListener("change", loadTargets);

let loadSeq = 0;
let liveTimer = null;
/** The lists again in a moment: availability and queues move while the dialog is open. */
export function refreshTargetsSoon() {
  if (!dialog.open) return;
  clearTimeout(liveTimer);
  liveTimer = setTimeout(loadTargets, 300);
}
export async function loadTargets() {
  const id = state.dialogEngagement;
  if (!id) return;
  const seq = ++loadSeq;
  const params = new URLSearchParams();
  const site = $("#transfer-site").value;
  const search = $("#transfer-search").value.trim();
  if (site) params.set("site", site);
  if (search) params.set("q", search);
  try {
    const data = await get(`/transfers/engagements/${id}/targets/?${params}`);
    if (seq !== loadSeq) return; // a newer search answered first
    state.targets = data;
    const focused = document.activeElement?.closest?.("[role=option]");
    const focusKey = focused ? `${focused.dataset.kind}:${focused.dataset.id}` : null;
    if (state.picked?.kind === "operator") {
      const picked = data.operators.find((operator) => operator.id === state.picked.id);
      if (picked && !picked.can_take) state.picked = null; // became unavailable while the dialog was open
    }
    renderSites(data.sites);
    renderOperators(data.operators);
    renderQueues(data.queues);
    renderReasons(data.reasons || [], data.reason_required);
    renderPick();
    if (focusKey) {
      const [kind, id] = focusKey.split(":");
      const row = $(`[role=option][data-kind="${kind}"][data-id="${id}"]`, dialog);
      if (row) {
        $$("[role=option]", row.parentElement).forEach((other) => (other.tabIndex = -1));
        row.tabIndex = 0;
        row.focus();
      }
    }
  } catch (error) {
    showError(error.message || "Could not load the operators.");
  }
}

function renderSites(sites) {
  const select = $("#transfer-site");
  $("[data-role=site-field]", dialog).hidden = sites.length < 2;
  if (select.options.length === sites.length + 1) return;
  const chosen = select.value;
  select.replaceChildren(el("option", "", "All sites"));
  select.options[0].value = "";
  for (const site of sites) {
    const option = el("option", "", site.name);
    option.value = site.id;
    select.append(option);
  }
  select.value = chosen;
}

function targetRow({ kind, id, name, pickable, build }) {
  const li = el("li", "transfer-target");
  li.setAttribute("role", "option");
  li.dataset.kind = kind;
  li.dataset.id = id;
  li.dataset.name = name;
  li.tabIndex = -1;
  li.setAttribute("aria-selected", String(!!(state.picked && state.picked.kind === kind && state.picked.id === id)));
  if (!pickable) {
    li.setAttribute("aria-disabled", "true");
    li.classList.add("unavailable");
  }
  build(li);
  return li;
}

function renderOperators(operators) {
  const list = $("#transfer-operators");
  const rows = operators.map((operator) =>
    targetRow({
      kind: "operator",
      id: operator.id,
      name: operator.name,
      pickable: operator.can_take,
      build: (li) => {
        li.append(el("span", "avatar", (operator.name || "?").charAt(0).toUpperCase()));
        const main = el("span", "grow transfer-target-main");
        const line = el("span", "transfer-target-line");
        line.append(el("span", "transfer-target-name", operator.name));
        const media = el("span", "transfer-media");
        for (const [key, label] of MEDIA) {
          const status = (operator.availability.find((a) => a.media === key) || {}).status || "offline";
          const chip = el("span", `media-status media-${key}`);
          chip.title = `${label}: ${status}`;
          chip.dataset.media = key;
          chip.dataset.status = status;
          chip.append(el("span", `dot ${status}`), el("span", "", label));
          media.append(chip);
        }
        line.append(media);
        main.append(line);
        const sub = [operator.email, operator.teams.join(", "), operator.site_name].filter(Boolean).join(" · ");
        main.append(el("span", "small muted transfer-target-sub", sub));
        li.append(main);
        if (!operator.can_take) li.append(el("span", "badge badge-danger why-not", operator.why_not));
        li.setAttribute("aria-label", `${operator.name}${operator.can_take ? "" : ` — ${operator.why_not}, cannot take it now`}`);
      },
    }),
  );
  list.replaceChildren(...rows);
  $("[data-role=operators-empty]", dialog).hidden = rows.length > 0;
  focusableRow(list);
}

function renderQueues(queues) {
  const list = $("#transfer-queues");
  const rows = queues.map((queue) =>
    targetRow({
      kind: "queue",
      id: queue.id,
      name: queue.name,
      pickable: true,
      build: (li) => {
        li.append(el("span", "avatar avatar-queue", "Q"));
        const main = el("span", "grow transfer-target-main");
        main.append(el("span", "transfer-target-name", queue.name));
        const estimate = queue.estimated_wait_minutes ? ` · about ${queue.estimated_wait_minutes} min wait` : "";
        const sub = el("span", "small muted transfer-target-sub", `${queue.site_name} · ${queue.available_operators} available${estimate}`);
        main.append(sub);
        li.append(main);
        const waiting = el("span", `transfer-queue-num${queue.waiting ? " busy" : ""}`, String(queue.waiting));
        waiting.dataset.role = "waiting";
        waiting.title = "Waiting now";
        const wait = el("span", "transfer-queue-num", duration(queue.longest_wait_seconds));
        wait.dataset.role = "wait";
        wait.title = "Current wait";
        li.append(waiting, wait);
        li.setAttribute("aria-label", `${queue.name}: ${queue.waiting} waiting, current wait ${duration(queue.longest_wait_seconds)}${estimate ? `, estimated wait about ${queue.estimated_wait_minutes} min` : ""}`);
      },
    }),
  );
  list.replaceChildren(...rows);
  $("[data-role=queues-empty]", dialog).hidden = rows.length > 0;
  focusableRow(list);
}

function focusableRow(list) {
  const rows = $$("[role=option]", list);
  const selected = rows.find((row) => row.getAttribute("aria-selected") === "true");
  const first = selected || rows.find((row) => row.getAttribute("aria-disabled") !== "true") || rows[0];
  if (first) first.tabIndex = 0;
}

function pickRow(row) {
  if (!row || row.getAttribute("aria-disabled") === "true") return;
  state.picked = { kind: row.dataset.kind, id: Number(row.dataset.id), name: row.dataset.name };
  $$("[role=option]", row.parentElement).forEach((other) => {
    const selected = other === row;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
  });
  renderPick();
}

for (const list of [$("#transfer-operators"), $("#transfer-queues")]) {
  list.addEventListener("click", (event) => pickRow(event.target.closest("[role=option]")));
  list.addEventListener("keydown", (event) => {
    const rows = $$("[role=option]", list);
    const index = rows.indexOf(document.activeElement);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const next = rows[Math.min(rows.length - 1, Math.max(0, index + (event.key === "ArrowDown" ? 1 : -1)))];
      if (next) {
        rows.forEach((row) => (row.tabIndex = -1));
        next.tabIndex = 0;
        next.focus();
      }
    } else if (event.key === " " || event.key === "Enter") {
      event.preventDefault();
      pickRow(document.activeElement.closest("[role=option]"));
    }
  });
}

/** The engagement's queue's transfer reasons. */
function renderReasons(reasons, required) {
  renderReasonField($("[data-role=reason-field]", dialog), $("#transfer-reason"), reasons, required);
}

function renderPick() {
  const start = $("[data-act=start]", dialog);
  const queue = state.tab === "queues";
  start.textContent = queue ? "Send to Queue" : "Start Transfer to Operator";
  start.disabled = !state.picked;
  $("[data-role=selection]", dialog).textContent = state.picked
    ? `${queue ? "Queue" : "Operator"}: ${state.picked.name}`
    : queue ? "Pick a queue" : "Pick an operator who can take it now";
}

$("#transfer-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!state.picked) return;
  const start = $("[data-act=start]", dialog);
  start.disabled = true;
  showError("");
  const reason = $("#transfer-reason").value;
  const body = { warm_message: $("#transfer-warm").value, reason_id: reason ? Number(reason) : null };
  body[state.picked.kind === "operator" ? "target_operator_id" : "target_queue_id"] = state.picked.id;
  try {
    const data = await post(`/transfers/engagements/${state.dialogEngagement}/request/`, body);
    onInitiatorUpdate(data.transfer, { quiet: true });
    closeDialog();
  } catch (error) {
    showError(error.message || "The transfer could not start.");
    loadTargets();
  } finally {
    start.disabled = !state.picked;
  }
});

// A modal dialog already makes the page behind it inert; keep Tab cycling inside it too.
export function trapFocus(container, event) {
  if (event.key !== "Tab") return;
  const focusable = $$("button, input, select, textarea, [tabindex='0']", container).filter(
    (node) => !node.disabled && !node.closest("[hidden]") && node.offsetParent !== null,
  );
  if (!focusable.length) return;
  const first = focusable[0], last = focusable[focusable.length - 1];
  if (event.shiftKey && document.activeElement === first) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && document.activeElement === last) {
    event.preventDefault();
    first.focus();
  }
}
dialog.addEventListener("keydown", (event) => trapFocus(dialog, event));
resultDialog.addEventListener("keydown", (event) => trapFocus(resultDialog, event));
