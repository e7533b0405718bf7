// The supervisor console: the wallboard, pushed by /ws/supervisor/ (never polled), and the
// monitor of one engagement with whisper, join (barge), take over and reassign; live calls with
// listen, coach, barge, take over and leave (calls.js). User text only ever via textContent.
// Frames: docs/realtime.md, "Supervisor socket".
import { $, duration, el, replaceKeepingFocus, timeOfDay, toast } from "../core/dom.js";
import { LiveSocket } from "../core/socket.js";
import { CALL_DONE, renderCalls } from "./calls.js";

const STATUS_LABEL = { available: "Available", away: "Away", offline: "Offline" };
const MEDIA_LABEL = { chat: "Chat", voice: "Voice", video: "Video", email: "E-mail" };
const targets = JSON.parse($("#targets-data").textContent);
const me = JSON.parse($("#me-data").textContent);
const state = { board: JSON.parse($("#wallboard-data").textContent), monitoring: null, joined: false, refs: 0 };

const secondsSince = (iso) => (iso ? (Date.now() - new Date(iso).getTime()) / 1000 : null);
const percent = (value) => (value === null || value === undefined ? "—" : `${Math.round(value * 100)} %`);
const seconds = (value) => (value === null || value === undefined ? "—" : duration(value));

// A cell that counts up from `since` every second (see tick()).
function ticking(tag, className, since) {
  const node = el(tag, className, since ? duration(secondsSince(since)) : "—");
  if (since) node.dataset.since = since;
  return node;
}

function tick() {
  document.querySelectorAll("[data-since]").forEach((node) => {
    node.textContent = duration(secondsSince(node.dataset.since));
  });
}

// --- the wallboard ---------------------------------------------------------------------------

function serviceLevelBadge(value, target) {
  const kind = value === null || value === undefined ? "" : value * 100 >= target ? "badge-ok" : "badge-danger";
  const badge = el("span", `badge ${kind}`, percent(value));
  badge.title = `Target ${target} %`;
  return badge;
}

function figure(label, value, sub) {
  const tile = el("div", "kpi card");
  tile.append(el("span", "kpi-label", label));
  if (value instanceof Node) tile.append(value);
  else tile.append(el("span", "kpi-value", value));
  if (sub) tile.append(el("span", "kpi-sub", sub));
  return tile;
}

function renderSites() {
  const rows = state.board.sites.map((site) => {
    const section = el("div", "sv-site");
    section.dataset.siteId = site.id;
    if (state.board.sites.length > 1) section.append(el("h3", "", site.name));
    const tiles = el("div", "kpis");
    const longest = ticking("span", "kpi-value", site.oldest_queued_at);
    longest.dataset.kpi = "longest_wait";
    tiles.append(
      figure("Waiting now", String(site.waiting), "across every queue"),
      figure("Longest wait", longest, site.oldest_queued_at ? `since ${timeOfDay(site.oldest_queued_at)}` : "nobody waiting"),
      figure("Answered today", String(site.answered)),
      figure("Abandoned today", String(site.abandoned)),
      figure("Service level", percent(site.service_level), "within each queue's threshold"),
      figure("Avg speed of answer", seconds(site.asa)),
    );
    tiles.querySelectorAll(".kpi-value").forEach((node, index) => {
      node.dataset.kpi ||= ["waiting", "longest_wait", "answered", "abandoned", "service_level", "asa"][index];
    });
    section.append(tiles);
    return section;
  });
  $("[data-role=sites]").replaceChildren(...rows);
}

function renderQueues() {
  const rows = state.board.queues.map((queue) => {
    const tr = el("tr");
    tr.dataset.queueId = queue.id;
    const name = el("th", "");
    name.scope = "row";
    name.append(el("span", "", queue.name), el("span", "badge sv-media", MEDIA_LABEL[queue.media] || queue.media));
    const sl = el("td", "num");
    sl.append(serviceLevelBadge(queue.service_level, queue.service_level_target));
    sl.append(el("span", "small muted", ` ≤ ${queue.service_level_seconds} s`));
    tr.append(
      name,
      el("td", `num${queue.waiting ? " sv-waiting" : ""}`, String(queue.waiting)),
      ticking("td", "num", queue.oldest_queued_at),
      el("td", "num", String(queue.answered)),
      el("td", "num", String(queue.abandoned)),
      sl,
      el("td", "num", seconds(queue.asa)),
    );
    return tr;
  });
  $("[data-role=queues]").replaceChildren(...rows);
}

function mediaState(media) {
  const busy = media.status === "available" && (media.load > 0 || media.wrap_up);
  const kind = media.status === "available" ? (busy ? "busy" : "available") : media.status;
  const pill = el("span", `sv-state sv-${kind}`);
  const label = media.wrap_up && media.status === "available" ? "Wrap-up"
    : busy ? `Busy ${media.load}/${media.capacity}` : STATUS_LABEL[media.status] || media.status;
  pill.append(el("span", "sv-state-media", MEDIA_LABEL[media.media] || media.media), el("span", "", label));
  pill.append(ticking("span", "sv-state-since", media.since));
  return pill;
}

function renderOperators() {
  const rows = state.board.operators.map((operator) => {
    const li = el("li", "sv-operator");
    li.dataset.operatorId = operator.id;
    const states = el("div", "sv-states");
    operator.media.forEach((media) => states.append(mediaState(media)));
    li.append(el("span", "sv-operator-name", operator.name), states);
    if (operator.media.some((media) => media.status !== "offline")) {
      const button = el("button", "btn btn-sm btn-ghost", "Force offline");
      button.type = "button";
      button.setAttribute("aria-label", `Force ${operator.name} offline`);
      button.addEventListener("click", () => {
        if (confirm(`Take ${operator.name} offline? Their chats go back to the queue.`)) {
          act({ type: "force_offline", operator_id: operator.id });
        }
      });
      li.append(button);
    }
    return li;
  });
  replaceKeepingFocus($("[data-role=operators]"), rows); // redrawn on every frame: keep a tabbed place
}

function watcherNames(watchers) {
  return watchers.map((w) => (w.mode === "barge" ? `${w.name} (in chat)` : w.name)).join(", ");
}

function renderLive() {
  // Calls have their own table (calls.js): a chat's monitor and transcript mean nothing for them.
  const rows = state.board.live.filter((engagement) => !engagement.call).map((engagement) => {
    const tr = el("tr");
    tr.dataset.engagementId = engagement.id;
    if (state.monitoring === engagement.id) tr.setAttribute("aria-current", "true");
    const visitor = el("th", "", engagement.visitor);
    visitor.scope = "row";
    const owner = engagement.owner || (engagement.state === "queued" ? "Waiting" : "—");
    const actions = el("td", "sv-actions");
    const monitor = el("button", "btn btn-sm", state.monitoring === engagement.id ? "Monitoring" : "Monitor");
    monitor.type = "button";
    monitor.setAttribute("aria-label", `Monitor the chat with ${engagement.visitor}`);
    monitor.addEventListener("click", () => startMonitor(engagement.id));
    actions.append(monitor);
    tr.append(
      visitor,
      el("td", "", engagement.queue),
      el("td", engagement.owner ? "" : "muted", owner),
      ticking("td", "num", engagement.since),
      el("td", "small", watcherNames(engagement.watchers) || "—"),
      actions,
    );
    return tr;
  });
  if (!rows.length) {
    const empty = el("td", "empty", "No live engagements right now.");
    empty.colSpan = 6;
    const tr = el("tr");
    tr.append(empty);
    rows.push(tr);
  }
  replaceKeepingFocus($("[data-role=live]"), rows);
}

function renderBoard() {
  renderSites();
  renderQueues();
  renderOperators();
  renderLive();
  renderCalls(state.board.live, me, act);
  if (state.monitoring) renderMonitorHeader();
}

// --- the monitor -----------------------------------------------------------------------------

function act(frame) {
  state.refs += 1;
  socket.send({ ...frame, ref: `a${state.refs}` });
}

function startMonitor(engagementId) {
  if (state.monitoring && state.monitoring !== engagementId) act({ type: "monitor.stop", engagement_id: state.monitoring });
  state.monitoring = engagementId;
  state.joined = false;
  $("[data-role=transcript]").replaceChildren();
  act({ type: "monitor.start", engagement_id: engagementId });
}

function stopMonitor() {
  if (!state.monitoring) return;
  act({ type: "monitor.stop", engagement_id: state.monitoring });
  state.monitoring = null;
  $("[data-role=monitor]").hidden = true;
  renderLive();
}

function monitored() {
  return state.board.live.find((engagement) => engagement.id === state.monitoring);
}

function renderMonitorHeader() {
  const engagement = monitored();
  if (!engagement) return;
  $("[data-role=monitor-title]").textContent = `Monitoring ${engagement.visitor}`;
  const watchers = watcherNames(engagement.watchers);
  $("[data-role=monitor-sub]").textContent = [engagement.queue, engagement.owner ? `with ${engagement.owner}` : "waiting",
    watchers ? `watched by ${watchers}` : ""].filter(Boolean).join(" · ");
  const select = $("[data-role=reassign]");
  const options = [el("option", "", "Choose…")];
  options[0].value = "";
  targets.operators.filter((o) => o.site_id === engagement.site_id && o.id !== engagement.owner_id).forEach((o) => {
    const option = el("option", "", o.name);
    option.value = `operator:${o.id}`;
    options.push(option);
  });
  targets.queues.filter((q) => q.site_id === engagement.site_id && q.media === engagement.media).forEach((q) => {
    const option = el("option", "", `Queue: ${q.name}`);
    option.value = `queue:${q.id}`;
    options.push(option);
  });
  const picked = select.value; // the wallboard redraws live: keep the supervisor's pick
  select.replaceChildren(...options);
  select.value = options.some((option) => option.value === picked) ? picked : "";
  renderCompose();
}

function renderCompose() {
  $("[data-role=compose-label]").textContent = state.joined
    ? "Write to the visitor (you are in the conversation)"
    : "Whisper to the operator (the visitor does not see it)";
  $("[data-role=compose-send]").textContent = state.joined ? "Send" : "Whisper";
  $("[data-act=barge]").disabled = state.joined;
}

function line(frame) {
  const kind = frame.sender === "visitor" ? "theirs" : frame.sender === "system" ? "system" : "mine";
  const node = el("div", `msg ${kind}${frame.sender === "supervisor" ? " sv-supervisor" : ""}`);
  node.dataset.seq = frame.seq;
  const who = frame.sender === "visitor" ? "Visitor" : frame.sender_name || "";
  if (frame.sender !== "system") node.append(el("span", "meta", `${who} · ${timeOfDay(frame.created_at)}`));
  node.append(document.createTextNode(frame.body));
  return node;
}

function noteLine(note) {
  const node = el("div", `msg sv-note${note.source === "whisper" ? " sv-whisper" : ""}`);
  const label = note.source === "whisper" ? `Whisper · ${note.author_name}` : `Note · ${note.author_name}`;
  node.append(el("span", "meta", label), document.createTextNode(note.body));
  return node;
}

function append(node) {
  const transcript = $("[data-role=transcript]");
  transcript.append(node);
  transcript.scrollTop = transcript.scrollHeight;
}

function showDetail(frame) {
  if (frame.engagement.id !== state.monitoring) return;
  const lines = [...frame.messages.map(line), ...frame.notes.filter((n) => n.source === "whisper").map(noteLine)];
  $("[data-role=transcript]").replaceChildren(...lines);
  $("[data-role=monitor]").hidden = false;
  renderMonitorHeader();
  renderLive();
  const transcript = $("[data-role=transcript]");
  transcript.scrollTop = transcript.scrollHeight;
}

$("[data-role=whisper-form]").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("[data-role=compose]");
  const body = input.value.trim();
  if (!body || !state.monitoring) return;
  if (state.joined) act({ type: "message.send", engagement_id: state.monitoring, body, client_id: crypto.randomUUID() });
  else act({ type: "whisper", engagement_id: state.monitoring, body });
  input.value = "";
});
$("[data-act=barge]").addEventListener("click", () => act({ type: "barge", engagement_id: state.monitoring }));
$("[data-act=take_over]").addEventListener("click", () => {
  const engagement = monitored();
  act({ type: "take_over", engagement_id: state.monitoring, expected_owner_id: engagement ? engagement.owner_id : null });
});
$("[data-act=stop]").addEventListener("click", stopMonitor);
// An explicit Reassign, not the select's change: arrowing through a closed select fires change
// on every option, which would have reassigned the chat to each in turn.
$("[data-role=reassign-form]").addEventListener("submit", (event) => {
  event.preventDefault();
  const select = $("[data-role=reassign]");
  const [kind, id] = select.value.split(":");
  if (!id) {
    toast("Choose an operator or a queue to reassign to.", "error");
    return;
  }
  const frame = { type: "reassign", engagement_id: state.monitoring };
  frame[kind === "queue" ? "queue_id" : "operator_id"] = Number(id);
  act(frame);
  select.value = "";
});

const DONE = {
  whisper: "Whisper sent to the operator.",
  barge: "You joined the conversation: the visitor now sees your lines.",
  take_over: "The chat is yours now: answer it in your chat console.",
  reassign: "Reassigned.",
  force_offline: "Operator taken offline; their chats went back to the queue.",
};

function onFrame(frame) {
  switch (frame.type) {
    case "wallboard":
      state.board = frame;
      renderBoard();
      break;
    case "engagement.detail":
      showDetail(frame);
      break;
    case "message":
      if (frame.engagement_id === state.monitoring) append(line(frame));
      break;
    case "note":
      if (frame.engagement_id === state.monitoring && frame.source === "whisper") append(noteLine(frame));
      break;
    case "done":
      if (frame.act === "barge") { state.joined = true; renderCompose(); }
      if (DONE[frame.act]) toast(DONE[frame.act], frame.act === "whisper" ? "" : "ok");
      if (CALL_DONE[frame.act]) toast(CALL_DONE[frame.act], "ok");
      break;
    case "supervision.taken_over":
      if (frame.engagement_id === state.monitoring) toast(`${frame.by_name} took this chat over.`);
      break;
    case "call.state":
      break; // the wallboard frame that follows redraws the call (the server refreshes it)
    case "error":
      toast(frame.message || "That did not work.", "error");
      break;
    default:
  }
}

function onStatus(status) {
  const label = { open: "Live", connecting: "Reconnecting…", closed: "Offline — retrying" }[status] || status;
  $("[data-role=status]").textContent = label;
  $("[data-testid=live-status]").dataset.status = status;
  if (status === "open" && state.monitoring) act({ type: "monitor.start", engagement_id: state.monitoring });
}

const socket = new LiveSocket("/ws/supervisor/", { onFrame, onStatus, resumeQuery: () => "" });
renderBoard();
setInterval(tick, 1000);
