// After-contact work in the operator console: one panel per open wrap-up (templates/helpdesk/_wrapup.html).
// The server opens and closes them (wrap_up.started / wrap_up.ended frames, and the hello's list after
// a reconnect); the panel picks a disposition (stored at once, so a time-boxed wrap-up that runs out
// keeps it), Done and Skip go over HTTP POST. User text is only ever set with textContent.
import { on } from "../core/bus.js";
import { $, $$, duration, el, toast } from "../core/dom.js";
import { post, toastError } from "../core/http.js";

const section = $("#wrap-ups");
const list = $("[data-role=list]", section);
const myId = JSON.parse($("#operator-id").textContent);
const panels = new Map(); // wrap-up id -> {node, wrapUp, endsAt}

on("frame", (frame) => {
  switch (frame.type) {
    case "hello":
      resync(frame.wrap_ups || []);
      frame.availability.forEach(markLoad);
      break;
    case "wrap_up.started":
      show(frame.wrap_up);
      break;
    case "wrap_up.ended":
      close(frame.wrap_up_id, frame.ended_because);
      break;
    case "availability":
      if (frame.operator_id === myId) markLoad(frame);
      break;
    default:
  }
});

/** The availability row marks the load (amber, "in wrap-up" for screen readers) while no new work comes on that media. */
function markLoad(availability) {
  const load = $(`.availability-row[data-media="${availability.media}"] [data-role=load]`);
  if (!load) return;
  const wrapping = availability.wrap_ups > 0;
  load.classList.toggle("in-wrap-up", wrapping);
  load.title = wrapping ? "In wrap-up: no new work until you are done" : "Engagements held / capacity";
  load.textContent = `${availability.load}/${availability.capacity}`;
  if (wrapping) load.append(el("span", "visually-hidden", " (in wrap-up)"));
}

function resync(wrapUps) {
  const open = new Set(wrapUps.map((w) => w.id));
  for (const id of [...panels.keys()]) if (!open.has(id)) close(id);
  wrapUps.forEach(show);
}

function show(wrapUp) {
  let panel = panels.get(wrapUp.id);
  if (!panel) {
    const node = $("#wrap-up-template").content.firstElementChild.cloneNode(true);
    node.dataset.wrapUpId = wrapUp.id;
    panel = { node };
    panels.set(wrapUp.id, panel);
    list.append(node);
  }
  panel.wrapUp = wrapUp;
  panel.endsAt = wrapUp.seconds_left === null ? null : Date.now() + wrapUp.seconds_left * 1000;
  const { node } = panel;
  node.setAttribute("aria-label", `Wrap-up of the chat with ${wrapUp.visitor_name}`);
  $("[data-role=visitor]", node).textContent = wrapUp.visitor_name;
  $("[data-role=queue]", node).textContent = wrapUp.queue_name;
  $("[data-role=timer-line]", node).hidden = panel.endsAt === null;
  $("[data-act=skip]", node).hidden = !wrapUp.can_skip;
  $("[data-role=required]", node).textContent = wrapUp.disposition_required ? "(required)" : "(optional)";
  renderCodes(node, wrapUp);
  section.hidden = false;
  tick();
}

function renderCodes(node, wrapUp) {
  const fieldset = $("[data-role=codes]", node);
  const options = $("[data-role=options]", node);
  fieldset.hidden = !wrapUp.codes.length;
  options.replaceChildren(
    ...wrapUp.codes.map((code) => {
      const label = el("label");
      const input = el("input");
      input.type = "radio";
      input.name = `disposition-${wrapUp.id}`;
      input.value = code.id;
      input.checked = code.id === wrapUp.disposition_id;
      label.append(input, el("span", "", code.name));
      return label;
    }),
  );
}

function close(wrapUpId, because) {
  const panel = panels.get(Number(wrapUpId));
  if (!panel) return;
  panels.delete(Number(wrapUpId));
  const hadFocus = panel.node.contains(document.activeElement);
  panel.node.remove();
  section.hidden = panels.size === 0;
  if (because === "timed_out") toast(`Wrap-up of ${panel.wrapUp.visitor_name} ended: time is up.`);
  if (hadFocus) ($("[data-act=done]", list) || $("#composer-input") || document.body).focus();
}

function tick() {
  for (const panel of panels.values()) {
    if (panel.endsAt === null) continue;
    const left = Math.max(0, (panel.endsAt - Date.now()) / 1000);
    $("[data-role=timer]", panel.node).textContent = left > 0 ? duration(Math.ceil(left)) : "ending…";
  }
}
setInterval(tick, 250);

function showError(node, text) {
  const error = $("[data-role=error]", node);
  error.textContent = text;
  error.hidden = !text;
}

list.addEventListener("change", async (event) => {
  if (!event.target.matches("input[type=radio]")) return;
  const node = event.target.closest(".wrap-up");
  showError(node, "");
  try {
    await post(`/wrap-up/${node.dataset.wrapUpId}/disposition/`, { disposition_id: Number(event.target.value) });
  } catch (error) {
    showError(node, error.message);
  }
});

list.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-act]");
  if (!button) return;
  const node = button.closest(".wrap-up");
  const id = Number(node.dataset.wrapUpId);
  const picked = $("input[type=radio]:checked", node);
  showError(node, "");
  $$("button", node).forEach((b) => (b.disabled = true));
  try {
    if (button.dataset.act === "done") {
      await post(`/wrap-up/${id}/done/`, { disposition_id: picked ? Number(picked.value) : null });
    } else {
      await post(`/wrap-up/${id}/skip/`);
    }
    close(id);
  } catch (error) {
    if (error.code === "network") toastError(error);
    showError(node, error.message);
    $$("button", node).forEach((b) => (b.disabled = false));
    if (error.code === "code_required") $("input[type=radio]", node)?.focus();
  }
});
