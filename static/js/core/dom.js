// Small DOM helpers every page shares. User text only ever goes in with textContent (`el`).

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

// One formatter for the page: toLocaleTimeString(locale, options) builds a new Intl formatter on
// every call, which made a 200-message history take ~100 ms to label (docs/performance.md).
const timeFormat = new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit" });

/** "10:42" (the viewer's locale) for an ISO time; "" for none. */
export const timeOfDay = (iso) => (iso ? timeFormat.format(new Date(iso)) : "");

// Scrollers to put at their end in the next frame. Reading scrollHeight now would force a layout
// of everything just drawn (~9 ms for a 200-line transcript, then laid out again for the paint);
// in requestAnimationFrame the frame's one layout serves both, and several calls make one scroll.
const toEnd = new Set();

/** Scroll `scroller` to its end before the next paint. */
export function scrollToEnd(scroller) {
  if (toEnd.has(scroller)) return;
  toEnd.add(scroller);
  requestAnimationFrame(() => {
    toEnd.delete(scroller);
    scroller.scrollTop = scroller.scrollHeight;
  });
}

/** Run `fn` once the next frame is rendered: work that can wait, kept off the frame that draws
 * (requestAnimationFrame runs just before the rendering, a task queued there just after it). A
 * hidden tab renders no frames: there it runs in the next task. */
export function afterNextPaint(fn) {
  if (document.hidden) setTimeout(fn, 0);
  else requestAnimationFrame(() => setTimeout(fn, 0));
}

/** Is `scroller` at (or about to be put at) its end, within `slack` pixels? */
export function nearEnd(scroller, slack = 80) {
  return toEnd.has(scroller) || scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < slack;
}

/** Replace `container`'s children, keeping keyboard focus on the same button (found by its
 * aria-label) if it was inside: a table redrawn on every live frame must not throw a keyboard user
 * back to the top of the page. */
export function replaceKeepingFocus(container, nodes) {
  const active = document.activeElement;
  const focused = active && container.contains(active) ? active.getAttribute("aria-label") : null;
  container.replaceChildren(...nodes);
  if (focused) [...container.querySelectorAll("button")].find((node) => node.getAttribute("aria-label") === focused)?.focus();
}

/** Seconds as "m:ss", or "h:mm:ss" from an hour. */
export function duration(seconds) {
  seconds = Math.max(0, Math.floor(seconds));
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  return h ? `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}` : `${m}:${String(s).padStart(2, "0")}`;
}

/** A message in the page's #toasts area for five seconds. */
export function toast(text, kind = "") {
  const node = el("div", `toast ${kind}`, text);
  $("#toasts").append(node);
  setTimeout(() => node.remove(), 5000);
}
