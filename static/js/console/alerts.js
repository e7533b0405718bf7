// Telling the operator something arrived: a beep, and a browser notification while the tab is in
// the background (the tab title's unread count is drawn by render.js).
import { $ } from "../core/dom.js";
import { beep } from "../core/sound.js";

export function alertOperator(text, isNewEngagement) {
  if (!document.hidden && !isNewEngagement) return;
  beep();
  if (document.hidden && "Notification" in window && Notification.permission === "granted") {
    const notification = new Notification(isNewEngagement ? "New engagement" : "New message", { body: text, tag: "helpdesk" });
    notification.onclick = () => { window.focus(); notification.close(); };
  }
}

export function askNotificationPermission() {
  if ("Notification" in window && Notification.permission === "default") Notification.requestPermission().then(renderNotificationButton);
}

function renderNotificationButton() {
  $("#enable-notifications").hidden = !("Notification" in window) || Notification.permission !== "default";
}
$("#enable-notifications").addEventListener("click", askNotificationPermission);
renderNotificationButton();
