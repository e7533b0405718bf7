// Canned replies in the operator console. Typing "/" at the start of the reply box (or the "/"
// button) lists the site's replies for the chat on screen (site-wide ones and its queue's own),
// narrowed as the operator types ("/gre"); arrow keys choose, Enter or Tab inserts, Escape closes.
// Inserting fills the reply box (with {visitor} and {operator} replaced) and sends nothing: the
// operator reads it, edits if needed, and presses Enter. The list is rendered with textContent only.
import { $, el } from "../core/dom.js";
import { entry, state } from "./state.js";

const { operator_name: operatorName, responses } = JSON.parse($("#canned-responses").textContent);
const input = $("#composer-input");
const list = $("#canned-list");
const announce = $("#canned-announce");
const QUERY = /^\/([\w-]*)$/; // the whole box is "/" plus a shortcut's beginning

let shown = []; // the responses in the list now
let active = -1;

function forCurrentChat() {
  const queueId = entry(state.current)?.summary.queue_id;
  return responses.filter((r) => r.queue_id === null || r.queue_id === queueId);
}

function matching(query) {
  const q = query.toLowerCase();
  const candidates = forCurrentChat();
  const starts = candidates.filter((r) => r.shortcut.toLowerCase().startsWith(q));
  const within = candidates.filter((r) => !starts.includes(r) && r.title.toLowerCase().includes(q));
  return [...starts, ...within];
}

function open(query) {
  shown = matching(query);
  active = shown.length ? 0 : -1;
  list.replaceChildren(
    ...(shown.length ? shown.map(option) : [el("li", "empty-row", `No canned reply starts with “/${query}”.`)]),
  );
  list.hidden = false;
  highlight();
  announce.textContent = shown.length
    ? `${shown.length} canned ${shown.length === 1 ? "reply" : "replies"}: arrow keys to choose, Enter to insert.`
    : "No canned reply matches.";
}

function option(response, index) {
  const item = el("li");
  item.id = `canned-${response.id}`;
  item.setAttribute("role", "option");
  item.dataset.index = index;
  item.append(el("span", "shortcut", `/${response.shortcut}`), el("span", "title", response.title),
    el("span", "preview", fill(response.body)));
  return item;
}

function close() {
  if (list.hidden) return;
  list.hidden = true;
  shown = [];
  active = -1;
  input.removeAttribute("aria-activedescendant");
  announce.textContent = "";
}

function highlight() {
  [...list.children].forEach((item, index) => item.setAttribute("aria-selected", String(index === active)));
  const current = list.children[active];
  if (current && shown.length) {
    input.setAttribute("aria-activedescendant", current.id);
    current.scrollIntoView({ block: "nearest" });
  } else input.removeAttribute("aria-activedescendant");
}

function fill(body) {
  const visitor = entry(state.current)?.summary.visitor_name || "there";
  return body.replaceAll("{visitor}", visitor).replaceAll("{operator}", operatorName);
}

function insert(index) {
  const response = shown[index];
  if (!response) return;
  const text = fill(response.body);
  let caret = text.length;
  if (QUERY.test(input.value)) input.value = text; // "/gre" becomes the reply
  else { // opened by the button over a draft: the reply goes in where the caret was
    const start = input.selectionStart ?? input.value.length;
    input.setRangeText(text, start, input.selectionEnd ?? start, "end");
    caret = start + text.length;
  }
  close();
  input.focus();
  input.setSelectionRange(caret, caret);
  input.dispatchEvent(new Event("input", { bubbles: true })); // the console's typing signal
}

function refresh() {
  const match = state.current ? input.value.match(QUERY) : null;
  if (match && responses.length) open(match[1]);
  else close();
}

input.addEventListener("input", refresh);
input.addEventListener("blur", () => setTimeout(() => document.activeElement !== input && close(), 150));
// Capture on the form: these keys must reach the list before the console's Enter-sends handler.
$("#composer").addEventListener("keydown", (event) => {
  if (list.hidden || event.target !== input) return;
  const moves = { ArrowDown: 1, ArrowUp: -1 };
  if (event.key in moves && shown.length) {
    active = (active + moves[event.key] + shown.length) % shown.length;
    highlight();
  } else if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey && active >= 0) {
    insert(active);
  } else if (event.key === "Escape") {
    close();
  } else return;
  event.preventDefault();
  event.stopPropagation();
}, true);
list.addEventListener("mousedown", (event) => event.preventDefault()); // keep the focus in the reply box
list.addEventListener("click", (event) => {
  const item = event.target.closest("[role=option]");
  if (item) insert(Number(item.dataset.index));
});
$("#canned-open").addEventListener("click", () => {
  if (!list.hidden || !state.current) return close();
  if (!input.value.trim()) input.value = "/";
  input.focus();
  open(QUERY.test(input.value) ? input.value.slice(1) : "");
});
