// The page's one event bus: modules of a page talk through it (or through explicit imports),
// never through globals. Every module that imports this file shares the same bus.
//
//   import { on, emit } from "../core/bus.js";
//   on("frame", (frame) => ...);          // returns a function that stops listening
//   emit("frame", { type: "hello" });
//
// Events of the operator console (console/console.js emits them):
//   "frame"                every frame of the operator socket, after the console handled it
//   "engagement-selected"  {engagementId} the conversation on screen changed (null: none)
//   "engagement-select"    {engagementId} ask the console to show an engagement

const bus = new EventTarget();

export function on(type, listener) {
  const handler = (event) => listener(event.detail);
  bus.addEventListener(type, handler);
  return () => bus.removeEventListener(type, handler);
}

export function emit(type, detail) {
  bus.dispatchEvent(new CustomEvent(type, { detail }));
}
