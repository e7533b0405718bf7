// Chat transfer in the operator console: the dialog (operators / queues, warm message), the
// initiator's waiting and accepted banner with Transfer Now, the result popup with Back, the
// target's incoming prompt, the read-only copy after hand-over (and the "Transferred recently"
// list that reopens it after a reload) and the transfer history.
// Acts go over HTTP POST (CSRF); results come back as frames re-dispatched by console.js as
// "helpdesk:frame". User text is only ever set with textContent.

import { $, $$, duration, el, timeOfDay } from "./dom.js";

const minutes = (seconds) =>
  seconds % 60 ? duration(seconds) : `${seconds / 60} minute${seconds === 60 ? "" : "s"}`;
const MEDIA = [["chat", "Chat"], ["voice", "Voice"], ["video", "Video"]];
const OPEN = new Set(["requested", "accepted"]);

const hd = () => window.helpdesk;
const currentId = () => (hd() ? hd().currentEngagementId() : null);
const toast = (text, kind) => (hd() && hd().toast ? hd().toast(text, kind) : undefined);

const state = {
  byEngagement: new Map(), // engagement id -> latest transfer payload the initiator knows
  deadlines: new Map(), // transfer id -> local ms timestamp of its deadline
  handOverDeadlines: new Map(), // accepted transfer id -> local ms by which Transfer Now must come
  waitingSince: new Map(), // transfer id -> local ms when it started waiting in a queue
  prompts: new Map(), // transfer id -> prompt node (incoming offers)
  drafts: loadDrafts(), // engagement id -> warm message draft
  tab: "operators",
  picked: null, // {kind: "operator"|"queue", id, name}
  dialogEngagement: null,
  targets: null,
  snapshots: new Map(), // engagement id -> {nodes, visitor}
  history: new Map(), // engagement id -> rows
  recent: [], // my transfers completed lately: rows of /transfers/recent/
  readonlyOpener: null, // the "Transferred recently" button that opened the read-only copy
  lastFocus: null,
};

// --- HTTP ----------------------------------------------------------------------------------------

async function call(method, url, body) {
  const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (method === "POST") {
    options.headers["Content-Type"] = "application/json";
    options.headers["X-CSRFToken"] = hd().csrfToken();
    options.body = JSON.stringify(body || {});
  }
  let response;
  try {
    response = await fetch(url, options);
  } catch {
    throw { code: "network", message: "The connection failed. Try again." };
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw data.error || { code: "http", message: `The server answered ${response.status}.` };
  return data;
}

// --- drafts: the warm message survives Back, closing the dialog and a reload -----------------------

function loadDrafts() {
  try {
    return new Map(Object.entries(JSON.parse(sessionStorage.getItem("transfer-drafts") || "{}")));
  } catch {
    return new Map();
  }
}
function saveDraft(engagementId, text) {
  if (text) state.drafts.set(String(engagementId), text);
  else state.drafts.delete(String(engagementId));
  try {
    sessionStorage.setItem("transfer-drafts", JSON.stringify(Object.fromEntries(state.drafts)));
  } catch {
    // private mode: the draft still lives in memory
  }
}

// --- placing our pieces in the console -------------------------------------------------------------

const banner = $("#transfer-banner");
const readonly = $("#transfer-readonly");
const historySection = $("#transfer-history-section");
const recentSection = $("#transfer-recent");
const dialog = $("#transfer-dialog");
const resultDialog = $("#transfer-result");
const openButton = $("#transfer-open");

function place() {
  const header = $("#conversation-body .pane-header");
  if (header && banner.parentElement !== header.parentElement) header.after(banner);
  const pane = $("#conversation");
  if (pane && readonly.parentElement !== pane) pane.append(readonly);
  const mine = $(".sidebar .engagements-section");
  if (mine && recentSection.parentElement !== mine.parentElement) mine.after(recentSection);
  const side = $("#sidepanel");
  if (side && historySection.parentElement !== side) {
    const owners = $("#owners", side)?.closest("section");
    if (owners) owners.after(historySection);
    else side.append(historySection);
  }
}
place();

// --- the Transfer button and the banner --------------------------------------------------------------

function engagementEnded() {
  const endedBanner = $("#ended-banner");
  return endedBanner ? !endedBanner.hidden : false;
}

function renderButton() {
  const id = currentId();
  const open = id ? openTransferOf(id) : null;
  openButton.disabled = !id || engagementEnded() || !!open;
  openButton.title = open ? "A transfer is in progress" : "Transfer this engagement to another operator or a queue";
}

function openTransferOf(engagementId) {
  const transfer = state.byEngagement.get(Number(engagementId));
  return transfer && OPEN.has(transfer.state) ? transfer : null;
}

function renderBanner() {
  place();
  const id = currentId();
  const transfer = id ? openTransferOf(id) : null;
  banner.hidden = !transfer;
  renderButton();
  if (!transfer) return;
  banner.dataset.state = transfer.state;
  banner.dataset.transferId = transfer.id;
  const title = $("[data-role=title]", banner);
  const detail = $("[data-role=detail]", banner);
  const nowButton = $("[data-act=now]", banner);
  nowButton.hidden = transfer.state !== "accepted";
  $("[data-act=cancel]", banner).hidden = false;
  if (transfer.state === "accepted") {
    banner.className = "transfer-banner accepted";
    title.textContent = `${transfer.accepted_by_name} accepted the transfer`;
    detail.textContent = "Let the visitor know and say goodbye, then click Transfer Now before the time runs out.";
  } else if (transfer.waiting_in_queue) {
    banner.className = "transfer-banner waiting";
    title.textContent = `Waiting in ${transfer.target_name}`;
    detail.textContent = `Nobody is free yet · position ${transfer.queue_position} · you can keep chatting with the visitor.`;
  } else {
    banner.className = "transfer-banner waiting";
    title.textContent =
      transfer.target_kind === "queue"
        ? `Offered to ${transfer.offered_to_name} (${transfer.target_name})`
        : `Waiting for ${transfer.offered_to_name} to answer`;
    detail.textContent = "You can keep chatting with the visitor meanwhile.";
  }
  tick();
}

function tick() {
  const transferId = Number(banner.dataset.transferId);
  const countdown = $("[data-role=countdown]", banner);
  if (!banner.hidden && banner.dataset.state === "requested") {
    const deadline = state.deadlines.get(transferId);
    const since = state.waitingSince.get(transferId);
    if (deadline) {
      const left = Math.max(0, (deadline - Date.now()) / 1000);
      countdown.textContent = duration(Math.ceil(left));
      countdown.classList.toggle("urgent", left <= 10);
      countdown.setAttribute("aria-label", "Time left to answer");
    } else if (since) {
      countdown.textContent = duration((Date.now() - since) / 1000);
      countdown.classList.remove("urgent");
      countdown.setAttribute("aria-label", "Time waiting in the queue");
    }
  } else if (!banner.hidden && banner.dataset.state === "accepted" && state.handOverDeadlines.has(transferId)) {
    const left = Math.max(0, (state.handOverDeadlines.get(transferId) - Date.now()) / 1000);
    countdown.textContent = duration(Math.ceil(left));
    countdown.classList.toggle("urgent", left <= 30);
    countdown.setAttribute("aria-label", "Time left to click Transfer Now");
  } else {
    countdown.textContent = "";
  }
  for (const [transferId, prompt] of state.prompts) {
    const deadline = state.deadlines.get(transferId);
    if (!deadline) continue;
    const left = Math.max(0, (deadline - Date.now()) / 1000);
    $("[data-role=countdown]", prompt).textContent = duration(Math.ceil(left));
    const total = Number(prompt.dataset.timeout) || 30;
    $("[data-role=meter]", prompt).style.width = `${Math.min(100, (left / total) * 100)}%`;
    prompt.classList.toggle("urgent", left <= 10);
  }
}
setInterval(tick, 250);

function remember(transfer, { asInitiator = true } = {}) {
  if (asInitiator) {
    const previous = state.byEngagement.get(transfer.engagement_id);
    if (previous && previous.id > transfer.id) return previous; // an older transfer's late frame
    state.byEngagement.set(transfer.engagement_id, transfer);
  }
  if (transfer.seconds_left !== null && transfer.seconds_left !== undefined) {
    state.deadlines.set(transfer.id, Date.now() + transfer.seconds_left * 1000);
  } else {
    state.deadlines.delete(transfer.id);
  }
  if (transfer.hand_over_seconds_left !== null && transfer.hand_over_seconds_left !== undefined) {
    state.handOverDeadlines.set(transfer.id, Date.now() + transfer.hand_over_seconds_left * 1000);
  } else {
    state.handOverDeadlines.delete(transfer.id);
  }
  if (transfer.waiting_in_queue) {
    state.waitingSince.set(transfer.id, Date.now() - (transfer.waiting_seconds || 0) * 1000);
  }
  return transfer;
}

banner.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-act]");
  if (!button) return;
  const transferId = banner.dataset.transferId;
  button.disabled = true;
  try {
    if (button.dataset.act === "cancel") {
      const data = await call("POST", `/transfers/${transferId}/cancel/`);
      onInitiatorUpdate(data.transfer, { quiet: true });
    } else if (button.dataset.act === "now") {
      snapshot(currentId());
      const data = await call("POST", `/transfers/${transferId}/now/`);
      onInitiatorUpdate(data.transfer);
    }
  } catch (error) {
    toast(error.message || "That did not work.", "error");
  } finally {
    button.disabled = false;
  }
});

// --- the dialog ------------------------------------------------------------------------------------

openButton.addEventListener("click", () => openDialog());

function visitorName() {
  return $("#visitor-name")?.textContent || "this visitor";
}

function openDialog({ keepPick = false } = {}) {
  const id = currentId();
  if (!id) return;
  state.dialogEngagement = id;
  state.lastFocus = document.activeElement;
  if (!keepPick) state.picked = null;
  $("[data-role=subtitle]", dialog).textContent = `${visitorName()} · #${id}`;
  $("#transfer-warm").value = state.drafts.get(String(id)) || "";
  showError("");
  selectTab(state.tab, false);
  if (!dialog.open) dialog.showModal();
  $("#transfer-search").focus();
  loadTargets();
}

function closeDialog() {
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
async function loadTargets() {
  const id = state.dialogEngagement;
  if (!id) return;
  const seq = ++loadSeq;
  const params = new URLSearchParams();
  const site = $("#transfer-site").value;
  const search = $("#transfer-search").value.trim();
  if (site) params.set("site", site);
  if (search) params.set("q", search);
  try {
    const data = await call("GET", `/transfers/engagements/${id}/targets/?${params}`);
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
        main.append(el("span", "small muted transfer-target-sub", `${queue.site_name} · ${queue.available_operators} available`));
        li.append(main);
        const waiting = el("span", `transfer-queue-num${queue.waiting ? " busy" : ""}`, String(queue.waiting));
        waiting.dataset.role = "waiting";
        waiting.title = "Waiting now";
        const wait = el("span", "transfer-queue-num", duration(queue.longest_wait_seconds));
        wait.dataset.role = "wait";
        wait.title = "Current wait";
        li.append(waiting, wait);
        li.setAttribute("aria-label", `${queue.name}: ${queue.waiting} waiting, current wait ${duration(queue.longest_wait_seconds)}`);
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
  const body = { warm_message: $("#transfer-warm").value };
  body[state.picked.kind === "operator" ? "target_operator_id" : "target_queue_id"] = state.picked.id;
  try {
    const data = await call("POST", `/transfers/engagements/${state.dialogEngagement}/request/`, body);
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
function trapFocus(container, event) {
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

// --- the result popup: declined, not answered, target went offline --------------------------------

function showResult(transfer) {
  const name = transfer.offered_to_name || transfer.target_name;
  const titles = { declined: "Transfer declined", expired: "Transfer not answered", cancelled: "Transfer stopped" };
  let text;
  let title = titles[transfer.state] || "Transfer stopped";
  if (transfer.end_reason === "not_handed_over") {
    title = "Transfer cancelled";
    const within = transfer.hand_over_timeout_seconds >= 1 ? ` within ${minutes(transfer.hand_over_timeout_seconds)}` : " in time";
    text = `Transfer Now was not clicked${within}, so the transfer to ${transfer.accepted_by_name || name} was cancelled. You still have the chat.`;
  } else if (transfer.end_reason === "all_declined") text = `Everyone in ${transfer.target_name} declined the transfer.`;
  else if (transfer.state === "declined") text = `${name} declined the transfer.`;
  else if (transfer.state === "expired") text = `${name} did not answer within ${transfer.accept_timeout_seconds} seconds.`;
  else if (transfer.end_reason === "at_capacity") text = `${name} has reached their capacity and cannot take it now.`;
  else text = `${transfer.end_reason_label || "The transfer was stopped"}.`.replace("Operator", name);
  $("#transfer-result-title").textContent = title;
  $("#transfer-result-text").textContent = text;
  const reason = $("[data-role=reason]", resultDialog);
  reason.textContent = transfer.reason_text ? `“${transfer.reason_text}”` : "";
  reason.hidden = !transfer.reason_text;
  resultDialog.dataset.engagementId = transfer.engagement_id;
  resultDialog.dataset.state = transfer.state;
  resultDialog.dataset.reason = transfer.end_reason;
  if (dialog.open) dialog.close();
  if (!resultDialog.open) resultDialog.showModal();
  $("[data-act=back]", resultDialog).focus();
}

resultDialog.addEventListener("click", (event) => {
  const act = event.target.closest("[data-act]")?.dataset.act;
  if (!act) return;
  resultDialog.close();
  if (act === "back") {
    const engagementId = Number(resultDialog.dataset.engagementId);
    if (currentId() !== engagementId && hd().selectEngagement) hd().selectEngagement(engagementId);
    openDialog();
  }
});

// --- frames for the initiator ----------------------------------------------------------------------

function onInitiatorUpdate(transfer, { quiet = false } = {}) {
  const known = state.byEngagement.get(transfer.engagement_id);
  const sameAsKnown = known && known.id === transfer.id && known.state === transfer.state;
  const current = remember(transfer);
  if (current !== transfer) return;
  if (transfer.state === "completed") {
    saveDraft(transfer.engagement_id, "");
    if (!sameAsKnown) {
      showReadOnly(transfer);
      loadRecent();
    }
  } else if (!OPEN.has(transfer.state) && !sameAsKnown) {
    const byMe = transfer.end_reason === "initiator_cancelled";
    const ended = transfer.end_reason === "visitor_left" || transfer.end_reason === "engagement_ended";
    if (byMe) {
      if (!quiet) toast("Transfer cancelled.");
    } else if (ended) {
      toast(`Transfer stopped: ${transfer.end_reason_label.toLowerCase()}.`);
    } else {
      showResult(transfer);
    }
  } else if (transfer.state === "accepted" && !sameAsKnown && !quiet) {
    notifyAccepted(transfer);
  }
  renderBanner();
  refreshHistory(transfer.engagement_id);
}

function notifyAccepted(transfer) {
  chime([660, 880]);
  if (document.hidden && "Notification" in window && Notification.permission === "granted") {
    new Notification("Transfer accepted", { body: `${transfer.accepted_by_name} accepted ${transfer.visitor_name}. Click Transfer Now when ready.`, tag: `transfer-${transfer.id}` });
  }
}

// --- the read-only copy after Transfer Now ----------------------------------------------------------

function snapshot(engagementId) {
  const transcript = $("#transcript");
  if (!transcript) return;
  state.snapshots.set(Number(engagementId), {
    nodes: [...transcript.children].map((node) => node.cloneNode(true)),
    visitor: visitorName(),
  });
}

function fillReadOnly({ transferId, engagementId, visitor, detail, nodes }) {
  $("[data-role=avatar]", readonly).textContent = (visitor || "?").charAt(0).toUpperCase();
  $("[data-role=visitor]", readonly).textContent = visitor;
  $("[data-role=detail]", readonly).textContent = detail;
  const transcript = $("[data-role=transcript]", readonly);
  transcript.replaceChildren(...nodes);
  readonly.dataset.engagementId = engagementId;
  readonly.dataset.transferId = transferId;
  readonly.hidden = false;
  $("#conversation")?.classList.add("showing-readonly");
  transcript.scrollTop = transcript.scrollHeight;
  renderRecent();
}

const copyDetail = (acceptedBy, completedAt) =>
  `Transferred to ${acceptedBy} at ${timeOfDay(completedAt)} · you can no longer write here`;

function showReadOnly(transfer) {
  const shot = state.snapshots.get(transfer.engagement_id);
  if (!shot && currentId() !== transfer.engagement_id) {
    toast(`${transfer.visitor_name} was transferred to ${transfer.accepted_by_name}.`);
    return;
  }
  const copy = shot || { nodes: [...($("#transcript")?.children || [])].map((n) => n.cloneNode(true)), visitor: transfer.visitor_name };
  fillReadOnly({
    transferId: transfer.id,
    engagementId: transfer.engagement_id,
    visitor: copy.visitor || transfer.visitor_name,
    detail: copyDetail(transfer.accepted_by_name, transfer.completed_at),
    nodes: copy.nodes,
  });
  state.snapshots.delete(transfer.engagement_id);
  // The snapshot is what was on screen at the click; the server's copy has every line up to the hand-over.
  const transcript = $("[data-role=transcript]", readonly);
  call("GET", `/transfers/${transfer.id}/transcript/`)
    .then((data) => {
      if (readonly.hidden || Number(readonly.dataset.transferId) !== transfer.id) return;
      transcript.replaceChildren(...data.messages.map((message) => copyBubble(message, data.visitor_name)));
      transcript.scrollTop = transcript.scrollHeight;
    })
    .catch(() => {});
}

// After a reload (or from the list at any time): the server's copy, up to the hand-over.
async function openRecent(transferId, opener) {
  try {
    const data = await call("GET", `/transfers/${transferId}/transcript/`);
    fillReadOnly({
      transferId: data.id,
      engagementId: data.engagement_id,
      visitor: data.visitor_name,
      detail: copyDetail(data.accepted_by_name, data.completed_at),
      nodes: data.messages.map((message) => copyBubble(message, data.visitor_name)),
    });
    state.readonlyOpener = opener || null;
    $("[data-role=visitor]", readonly).focus();
  } catch (error) {
    toast(error.message || "That copy could not be opened.", "error");
    loadRecent();
  }
}

function copyBubble(message, visitor) {
  const kind = message.sender === "system" ? "system" : message.sender === "operator" ? "mine" : "theirs";
  const bubble = el("div", `msg ${kind}`);
  bubble.dataset.seq = message.seq;
  if (message.sender !== "system") {
    const who = message.sender === "visitor" ? visitor : message.sender_name;
    bubble.append(el("span", "meta", `${who} · ${timeOfDay(message.created_at)}`));
  }
  bubble.append(document.createTextNode(message.body));
  return bubble;
}

function hideReadOnly({ restoreFocus = false } = {}) {
  const wasOpen = !readonly.hidden;
  readonly.hidden = true;
  delete readonly.dataset.transferId;
  $("#conversation")?.classList.remove("showing-readonly");
  renderRecent();
  const opener = state.readonlyOpener && $(`[data-transfer-id="${state.readonlyOpener}"]`, recentSection);
  state.readonlyOpener = null;
  if (wasOpen && restoreFocus && opener) opener.focus();
}
$("[data-act=close-readonly]", readonly).addEventListener("click", () => hideReadOnly({ restoreFocus: true }));
readonly.addEventListener("keydown", (event) => {
  if (event.key === "Escape") hideReadOnly({ restoreFocus: true });
});

// --- "Transferred recently": the initiator's copies survive a reload ---------------------------------

async function loadRecent() {
  try {
    const data = await call("GET", "/transfers/recent/");
    state.recent = data.recent;
    renderRecent();
  } catch {
    // the next hello tries again
  }
}

function renderRecent() {
  place();
  const openId = readonly.hidden ? null : Number(readonly.dataset.transferId);
  const items = state.recent.map((row) => {
    const li = el("li");
    const button = el("button", "list-item transfer-recent-item");
    button.type = "button";
    button.dataset.transferId = row.id;
    if (row.id === openId) button.setAttribute("aria-current", "true");
    button.setAttribute("aria-label", `${row.visitor_name}, transferred to ${row.accepted_by_name} at ${timeOfDay(row.completed_at)}: open the read-only copy`);
    const text = el("span", "grow transfer-recent-text");
    text.append(el("span", "name", row.visitor_name), el("span", "small muted", `→ ${row.accepted_by_name} · ${timeOfDay(row.completed_at)}`));
    button.title = "Open the read-only copy";
    button.append(el("span", "avatar avatar-sm", (row.visitor_name || "?").charAt(0).toUpperCase()), text);
    li.append(button);
    return li;
  });
  $("[data-role=list]", recentSection).replaceChildren(...items);
  $("[data-role=count]", recentSection).textContent = items.length;
  recentSection.hidden = items.length === 0;
}

recentSection.addEventListener("click", (event) => {
  const button = event.target.closest("[data-transfer-id]");
  if (button) openRecent(Number(button.dataset.transferId), Number(button.dataset.transferId));
});

// --- the target's incoming prompt --------------------------------------------------------------------

function onOffered(transfer) {
  remember(transfer, { asInitiator: false });
  let prompt = state.prompts.get(transfer.id);
  const fresh = !prompt;
  if (fresh) {
    prompt = $("#transfer-prompt-template").content.firstElementChild.cloneNode(true);
    prompt.dataset.transferId = transfer.id;
    state.prompts.set(transfer.id, prompt);
    $("#transfer-prompts").append(prompt);
  }
  prompt.dataset.timeout = transfer.accept_timeout_seconds;
  prompt.setAttribute("aria-label", `Incoming transfer from ${transfer.initiator_name}`);
  $("[data-role=initiator]", prompt).textContent = transfer.initiator_name;
  $("[data-role=visitor]", prompt).textContent = transfer.visitor_name;
  $("[data-role=via]", prompt).textContent = transfer.target_kind === "queue" ? ` (queue ${transfer.target_name})` : "";
  const warm = $("[data-role=warm]", prompt);
  warm.textContent = transfer.warm_message;
  warm.hidden = !transfer.warm_message;
  tick();
  if (fresh) {
    chime([880, 660, 880]);
    window.helpdeskTransferAlerts = (window.helpdeskTransferAlerts || 0) + 1;
    if (document.hidden && "Notification" in window && Notification.permission === "granted") {
      const body = `${transfer.initiator_name} wants to transfer ${transfer.visitor_name} to you.${transfer.warm_message ? `\n“${transfer.warm_message}”` : ""}`;
      const notification = new Notification("Incoming transfer", { body, tag: `transfer-${transfer.id}`, requireInteraction: true });
      notification.onclick = () => {
        window.focus();
        $("[data-act=accept]", prompt)?.focus();
        notification.close();
      };
      window.helpdeskTransferNotifications = (window.helpdeskTransferNotifications || 0) + 1;
    }
  }
}

function closePrompt(transferId) {
  const prompt = state.prompts.get(Number(transferId));
  if (!prompt) return;
  state.prompts.delete(Number(transferId));
  prompt.classList.add("leaving");
  setTimeout(() => prompt.remove(), 200);
}

const OFFER_ENDED_TEXT = {
  expired: "The transfer expired before you answered.",
  withdrawn: "The transfer was withdrawn.",
};

function onOfferEnded(frame) {
  const open = state.prompts.has(Number(frame.transfer_id));
  closePrompt(frame.transfer_id);
  if (frame.outcome === "accepted") return;
  if (open && OFFER_ENDED_TEXT[frame.outcome]) toast(OFFER_ENDED_TEXT[frame.outcome]);
  if (frame.outcome === "withdrawn" && !open && frame.reason === "initiator_cancelled") toast("The initiator cancelled the transfer you accepted.");
  if (frame.outcome === "withdrawn" && !open && frame.reason === "not_handed_over") {
    const who = frame.initiator_name || "The other operator";
    toast(`The transfer${frame.visitor_name ? ` of ${frame.visitor_name}` : ""} you accepted was cancelled: ${who} did not click Transfer Now in time.`);
  }
}

$("#transfer-prompts").addEventListener("click", async (event) => {
  const button = event.target.closest("[data-act]");
  if (!button) return;
  const prompt = button.closest(".transfer-prompt");
  const transferId = prompt.dataset.transferId;
  const box = $("[data-role=decline-box]", prompt);
  if (button.dataset.act === "decline" && box.hidden) {
    box.hidden = false;
    button.textContent = "Send decline";
    $("[data-role=reason]", prompt).focus();
    return;
  }
  $$("button", prompt).forEach((b) => (b.disabled = true));
  try {
    if (button.dataset.act === "accept") {
      await call("POST", `/transfers/${transferId}/accept/`);
      closePrompt(transferId);
      toast("Transfer accepted — the engagement arrives when the other operator clicks Transfer Now.");
    } else {
      await call("POST", `/transfers/${transferId}/decline/`, { reason: $("[data-role=reason]", prompt).value });
      closePrompt(transferId);
    }
  } catch (error) {
    toast(error.message || "That did not work.", "error");
    if (["already_taken", "no_longer_open", "not_offered"].includes(error.code)) closePrompt(transferId);
    else $$("button", prompt).forEach((b) => (b.disabled = false));
  }
});
$("#transfer-prompts").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && event.target.matches("[data-role=reason]")) {
    event.preventDefault();
    event.target.closest(".transfer-prompt").querySelector("[data-act=decline]").click();
  }
});

// --- sound ---------------------------------------------------------------------------------------------

let audio = null;
function chime(notes) {
  try {
    audio = audio || new AudioContext();
    notes.forEach((frequency, index) => {
      const start = audio.currentTime + index * 0.16;
      const oscillator = audio.createOscillator();
      const gain = audio.createGain();
      oscillator.type = "sine";
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.18, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.15);
      oscillator.connect(gain).connect(audio.destination);
      oscillator.start(start);
      oscillator.stop(start + 0.16);
    });
  } catch {
    // no audio device: the prompt and the notification still tell
  }
}

// --- the transfer history on the engagement ----------------------------------------------------------

const OUTCOME_CLASS = { completed: "badge-ok", accepted: "badge-ok", declined: "badge-danger", expired: "badge-warn", cancelled: "badge", requested: "badge-warn" };

async function refreshHistory(engagementId) {
  if (!engagementId || Number(engagementId) !== currentId()) return;
  try {
    const data = await call("GET", `/transfers/engagements/${engagementId}/`);
    state.history.set(Number(engagementId), data.history);
    const latest = data.history[data.history.length - 1];
    if (latest) remember(latest);
    renderHistory();
    renderBanner();
  } catch {
    // not ours (anymore): nothing to show
  }
}

function renderHistory() {
  place();
  const id = currentId();
  const rows = (id && state.history.get(id)) || [];
  const items = rows.map((transfer) => {
    const li = el("li", "transfer-history-item");
    li.dataset.state = transfer.state;
    const head = el("div", "row spread");
    const who = el("span", "transfer-history-who");
    who.append(el("strong", "", transfer.initiator_name), document.createTextNode(" → "), el("strong", "", transfer.accepted_by_name && transfer.target_kind === "queue" ? `${transfer.target_name} (${transfer.accepted_by_name})` : transfer.target_name));
    head.append(who, el("span", `badge ${OUTCOME_CLASS[transfer.state] || ""}`, transfer.state_label));
    li.append(head);
    const times = [`asked ${timeOfDay(transfer.requested_at)}`];
    if (transfer.answered_at) times.push(`answered ${timeOfDay(transfer.answered_at)}`);
    if (transfer.completed_at) times.push(`completed ${timeOfDay(transfer.completed_at)}`);
    else if (transfer.ended_at) times.push(`ended ${timeOfDay(transfer.ended_at)}`);
    li.append(el("div", "small muted", times.join(" · ")));
    if (transfer.end_reason && transfer.state !== "completed") {
      li.append(el("div", "small", transfer.reason_text ? `${transfer.end_reason_label}: “${transfer.reason_text}”` : transfer.end_reason_label));
    }
    if (transfer.warm_message) {
      const note = el("div", "note transfer small");
      note.append(el("span", "meta", `Transfer note by ${transfer.initiator_name} · ${timeOfDay(transfer.requested_at)}`), document.createTextNode(transfer.warm_message));
      li.append(note);
    }
    return li;
  });
  $("[data-role=list]", historySection).replaceChildren(...items);
  $("[data-role=empty]", historySection).hidden = items.length > 0;
}

// --- wiring to the console ------------------------------------------------------------------------------

document.addEventListener("helpdesk:frame", (event) => {
  const frame = event.detail;
  switch (frame.type) {
    case "transfer.updated":
      if (frame.transfer.initiator_id === myId()) onInitiatorUpdate(frame.transfer);
      else if (frame.transfer.state === "completed") {
        state.byEngagement.set(frame.transfer.engagement_id, frame.transfer);
        renderBanner();
        toast(`${frame.transfer.initiator_name} transferred ${frame.transfer.visitor_name} to you.`);
        refreshHistory(frame.transfer.engagement_id);
      }
      break;
    case "transfer.offered":
      onOffered(frame.transfer);
      break;
    case "transfer.offer_ended":
      onOfferEnded(frame);
      break;
    case "hello":
      place();
      resync();
      break;
    case "availability":
    case "queues.changed":
      // Keep the open dialog's dots, marks and queue counts live, and a waiting transfer's place.
      if (dialog.open) {
        clearTimeout(liveTimer);
        liveTimer = setTimeout(loadTargets, 300);
      }
      if (waitingInQueue()) refreshWaiting();
      break;
    case "engagement.detail":
    case "engagement.ended":
      place();
      renderBanner();
      if (frame.type === "engagement.detail") refreshHistory(frame.engagement.id);
      break;
    default:
  }
});

document.addEventListener("helpdesk:engagement-selected", (event) => {
  const id = event.detail.engagementId;
  if (id) hideReadOnly();
  place();
  renderBanner();
  renderHistory();
  if (id) refreshHistory(id);
  if (dialog.open && state.dialogEngagement !== id) closeDialog();
});

function myId() {
  const node = $("#operator-id");
  return node ? JSON.parse(node.textContent) : null;
}

// A queue transfer waiting for someone: its place moves as the queue does (visitors ahead answered or
// gone, transfers ahead offered). The server says the queue moved (queues.changed, availability
// frames); the initiator then re-reads position and wait, at most once per 300 ms. A slow poll
// covers a queue of another site, whose frames this console does not get.
const WAITING_POLL_MS = 15000;
let waitingTimer = null;

function waitingInQueue() {
  for (const transfer of state.byEngagement.values()) {
    if (transfer.state === "requested" && transfer.waiting_in_queue) return true;
  }
  return false;
}

function refreshWaiting() {
  clearTimeout(waitingTimer);
  waitingTimer = setTimeout(async () => {
    try {
      const data = await call("GET", "/transfers/mine/");
      data.outgoing.forEach((transfer) => remember(transfer));
      renderBanner();
      window.helpdeskTransferWaitRefreshes = (window.helpdeskTransferWaitRefreshes || 0) + 1;
    } catch {
      // the next frame or poll tries again
    }
  }, 300);
}
setInterval(() => {
  if (waitingInQueue()) refreshWaiting();
}, WAITING_POLL_MS);

async function resync() {
  loadRecent();
  try {
    const data = await call("GET", "/transfers/mine/");
    const offered = new Set(data.offers.map((t) => t.id));
    for (const transferId of [...state.prompts.keys()]) if (!offered.has(transferId)) closePrompt(transferId);
    data.offers.forEach(onOffered);
    data.outgoing.forEach((transfer) => remember(transfer));
    renderBanner();
  } catch {
    // the next hello tries again
  }
}

// Engagement selection changes the header; keep the button in step even without our events.
new MutationObserver(() => renderButton()).observe($("#conversation") || document.body, { subtree: true, attributes: true, attributeFilter: ["hidden"] });

window.helpdeskTransfers = { state, openDialog };
resync();
renderButton();
