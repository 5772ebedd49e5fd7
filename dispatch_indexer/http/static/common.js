"use strict";
// What the list page and the dispatch page share: the token, requests, and
// building elements. Everything shown comes from the index and is untrusted
// text: it only ever goes into the page through textContent (and SVG through
// createElementNS), never as markup.
window.CI = (function () {
  const TOKEN_KEY = "covalent-indexer-token";
  const SVG = "http://www.w3.org/2000/svg";
  const FINAL = new Set(["COMPLETED", "FAILED", "CANCELLED", "POSTPROCESSING_FAILED"]);
  const COLOURS = {
    COMPLETED: "#16a34a", FAILED: "#dc2626", POSTPROCESSING_FAILED: "#dc2626",
    RUNNING: "#2563eb", POSTPROCESSING: "#2563eb", PENDING_POSTPROCESSING: "#2563eb",
    CANCELLED: "#d97706", NEW_OBJECT: "#9ca3af", UNKNOWN: "#6b7280",
  };

  // A token given once as ?token=... is kept for this tab and taken out of
  // the address bar; every request sends it as a bearer header.
  let token = null;
  const params = new URLSearchParams(window.location.search);
  if (params.has("token")) {
    token = params.get("token");
    try { sessionStorage.setItem(TOKEN_KEY, token); } catch (e) { /* storage off */ }
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", window.location.pathname + (rest ? "?" + rest : ""));
  } else {
    try { token = sessionStorage.getItem(TOKEN_KEY); } catch (e) { token = null; }
  }

  function headers() {
    return token ? { Authorization: "Bearer " + token } : {};
  }

  async function getJSON(path) {
    const response = await fetch(path, { headers: headers(), cache: "no-store" });
    if (!response.ok) {
      let detailText = response.statusText;
      try { detailText = (await response.json()).detail || detailText; } catch (e) { /* not JSON */ }
      const error = new Error(detailText);
      error.status = response.status;
      throw error;
    }
    return response.json();
  }

  // A page of this server opened in this tab: the token travels once in the
  // address (the page takes it out again), as a link cannot send a header.
  function go(path, event) {
    if (!token) return; // a plain link does it
    if (event && (event.ctrlKey || event.metaKey || event.shiftKey || event.button === 1)) return;
    if (event) event.preventDefault();
    const sep = path.includes("?") ? "&" : "?";
    window.location.assign(path + sep + "token=" + encodeURIComponent(token));
  }

  function link(path, text, className) {
    const a = el("a", className, text);
    a.href = path;
    a.addEventListener("click", (event) => go(path, event));
    return a;
  }

  function dispatchPath(id) {
    return "/dispatches/" + encodeURIComponent(id);
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function statusName(status) {
    return String(status || "UNKNOWN").toUpperCase().replace(/[^A-Z_]/g, "") || "UNKNOWN";
  }

  function statusClass(status) {
    return "status-" + statusName(status);
  }

  function colour(status) {
    return COLOURS[statusName(status)] || COLOURS.UNKNOWN;
  }

  function pad(n) { return String(n).padStart(2, "0"); }

  function formatTime(iso) {
    if (!iso) return "";
    const t = new Date(iso);
    if (isNaN(t)) return String(iso);
    return t.getFullYear() + "-" + pad(t.getMonth() + 1) + "-" + pad(t.getDate()) + " " +
      pad(t.getHours()) + ":" + pad(t.getMinutes()) + ":" + pad(t.getSeconds());
  }

  function formatSeconds(seconds) {
    if (!isFinite(seconds) || seconds < 0) return "";
    if (seconds < 10) return seconds.toFixed(2) + " s";
    if (seconds < 60) return seconds.toFixed(1) + " s";
    const s = Math.floor(seconds);
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
  }

  function duration(record) {
    if (!record.start_time) return "";
    const start = new Date(record.start_time).getTime();
    if (record.end_time) return formatSeconds((new Date(record.end_time).getTime() - start) / 1000);
    if (FINAL.has(record.status) || record.missing) return "";
    return formatSeconds((Date.now() - start) / 1000) + " so far";
  }

  function showError(box, e, what) {
    box.textContent = e.status === 401
      ? "Not authorized: this server needs its token. Open this page with ?token=YOUR_TOKEN."
      : "Cannot read " + what + " (" + e.message + ").";
    box.hidden = false;
  }

  return {
    headers, getJSON, go, link, dispatchPath, el, svg, statusName, statusClass, colour,
    formatTime, formatSeconds, duration, showError, FINAL,
  };
})();
