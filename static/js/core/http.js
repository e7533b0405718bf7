// The one way the pages talk HTTP: same-origin JSON, the CSRF token on every POST, and one shape
// of failure. A refused act comes back from the server as {"error": {"code", "message"}}
// (helpdesk/http.py); a network failure or another answer becomes the same HttpError, with a
// message a person can read, so callers only decide where to show it (`toastError`).
//
//   import { get, post, toastError } from "../core/http.js";
//   const data = await post(`/transfers/${id}/accept/`);
//   try { ... } catch (error) { toastError(error); }

import { toast } from "./dom.js";

export class HttpError extends Error {
  constructor(code, message, status = 0) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export async function request(method, url, body) {
  const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (method !== "GET") {
    options.headers["Content-Type"] = "application/json";
    options.headers["X-CSRFToken"] = csrfToken();
    options.body = JSON.stringify(body || {});
  }
  let response;
  try {
    response = await fetch(url, options);
  } catch {
    throw new HttpError("network", "The connection failed. Try again.");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = data.error || {};
    throw new HttpError(error.code || "http", error.message || `The server answered ${response.status}.`, response.status);
  }
  return data;
}

export const get = (url) => request("GET", url);
export const post = (url, body) => request("POST", url, body);

/** Show a failed request in the page's toasts. */
export function toastError(error, fallback = "That did not work. Try again.") {
  toast((error && error.message) || fallback, "error");
}
