// The transcript form on an ended chat: asks the server to e-mail the conversation (a task sends
// it), says so in the status line, and keeps the address on a refusal so it can be corrected.
import { $ } from "../core/dom.js";
import { post } from "../core/http.js";

const form = $("#transcript-form");
const input = $("#transcript-email");
const status = $("#transcript-status");

function say(text, kind) {
  status.textContent = text;
  status.dataset.kind = kind;
  input.setAttribute("aria-invalid", kind === "error" ? "true" : "false");
}

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const email = input.value.trim();
  if (!email) {
    say("Enter your e-mail address.", "error");
    input.focus();
    return;
  }
  const button = $("button[type=submit]", form);
  button.disabled = true;
  say("Sending…", "pending");
  try {
    const { transcript } = await post(form.dataset.url, { email });
    say(`On its way to ${transcript.address}. It can take a few minutes to arrive.`, "ok");
    input.value = "";
  } catch (error) {
    say(error.message, "error");
    input.focus();
  } finally {
    button.disabled = false;
  }
});
