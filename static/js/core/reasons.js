// The transfer-reason field of the chat transfer dialog and the phone picker: one <select> of the
// queue's reasons inside a field hidden when the queue has none; the pick survives a reload of the lists.
import { $, el } from "./dom.js";

export function renderReasonField(field, select, reasons, required) {
  const picked = select.value;
  const none = el("option", "", required ? "Pick a reason" : "No reason given");
  none.value = "";
  select.replaceChildren(none, ...reasons.map((reason) => {
    const option = el("option", "", reason.name);
    option.value = reason.id;
    return option;
  }));
  select.value = reasons.some((reason) => String(reason.id) === picked) ? picked : "";
  select.required = Boolean(required && reasons.length);
  $("[data-role=reason-hint]", field).textContent = select.required ? "(required)" : "(optional)";
  field.hidden = !reasons.length;
}
