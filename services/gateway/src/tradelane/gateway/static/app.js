// tradelane's own script: logging in and out, and saying when an htmx request failed.
// Everything else on the pages is htmx attributes; nothing here is inline or evaluated.
"use strict";

(function () {
  function sessionHeaders() {
    const raw = document.body.getAttribute("hx-headers");
    return raw ? JSON.parse(raw) : {};
  }

  function nextPage() {
    const next = new URLSearchParams(window.location.search).get("next");
    return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
  }

  async function detailOf(response) {
    try {
      const body = await response.json();
      if (typeof body.detail === "string") return body.detail;
      if (Array.isArray(body.detail)) return body.detail.map((error) => error.msg).join("; ");
    } catch (_) {
      // not JSON: fall back to the status
    }
    return `HTTP ${response.status}`;
  }

  async function logIn(event) {
    event.preventDefault();
    const form = event.target;
    const error = document.getElementById("login-error");
    error.hidden = true;
    const response = await fetch("/api/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: form.elements.token.value.trim() }),
      credentials: "same-origin",
    });
    if (response.ok) {
      await response.json(); // read to the end, so leaving the page does not abort the answer
      window.location.assign(nextPage());
      return;
    }
    error.textContent = await detailOf(response);
    error.hidden = false;
    form.elements.token.focus();
  }

  async function logOut() {
    const response = await fetch("/api/session", { method: "DELETE", headers: sessionHeaders(), credentials: "same-origin" });
    await response.text();
    window.location.assign("/login");
  }

  function flash(message) {
    const banner = document.getElementById("flash");
    banner.textContent = message;
    banner.hidden = false;
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("login-form")?.addEventListener("submit", logIn);
    document.getElementById("logout")?.addEventListener("click", logOut);
    document.body.addEventListener("htmx:responseError", (event) => {
      const xhr = event.detail.xhr;
      let detail = `HTTP ${xhr.status}`;
      try {
        detail = JSON.parse(xhr.responseText).detail || detail;
      } catch (_) {
        // not JSON
      }
      flash(xhr.status === 401 ? `${detail}` : `That did not work: ${detail}`);
    });
    document.body.addEventListener("htmx:sendError", () => flash("The gateway did not answer; is it running?"));
  });
})();
