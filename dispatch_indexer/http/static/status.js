
"use strict";
(function () {
  // Everything shown comes from the index and is untrusted text: it only
  // ever goes into the page through textContent, never as markup.
  const POLL_MS = 2000;
  const PAGE = 200;
  const FINAL = new Set(["COMPLETED", "FAILED", "CANCELLED", "POSTPROCESSING_FAILED"]);
  const TOKEN_KEY = "covalent-indexer-token";

  // A token given once as /?token=... is kept for this tab and taken out of
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

  const $ = (id) => document.getElementById(id);
  const tbody = document.querySelector("#dispatches tbody");
  const select = $("status-filter");
  const search = $("text-filter");
  const counts = $("counts");
  const errorBox = $("error");
  const detail = $("detail");

  let limit = PAGE;
  let generation = 0; // answers to a request older than the filters are dropped
  let timer = null;
  let shownStatuses = "";
  let detailId = null;

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

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function statusClass(status) {
    return "status-" + String(status || "UNKNOWN").toUpperCase().replace(/[^A-Z_]/g, "");
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

  function row(record) {
    const tr = el("tr");
    tr.dataset.id = record.dispatch_id;
    const status = el("td", "status " + statusClass(record.status), record.status || "UNKNOWN");
    if (record.missing) status.appendChild(el("span", "tag", "missing"));
    if (record.unreadable) {
      const tag = el("span", "tag", "unreadable");
      tag.title = record.unreadable;
      status.appendChild(tag);
    }
    tr.appendChild(status);
    tr.appendChild(el("td", "workflow", record.lattice_name || ""));
    tr.appendChild(el("td", "id", record.dispatch_id));
    const start = el("td", "start", formatTime(record.start_time));
    if (record.start_time) start.title = record.start_time;
    tr.appendChild(start);
    tr.appendChild(el("td", "duration", duration(record)));
    const where = el("td", "location", record.path);
    where.title = record.results_dir || "";
    tr.appendChild(where);
    if (record.error) tr.title = record.error;
    tr.addEventListener("click", () => showDetail(record.dispatch_id));
    return tr;
  }

  function renderRows(page) {
    const rows = page.dispatches.map(row);
    tbody.replaceChildren(...rows);
    $("empty").hidden = rows.length > 0;
    const more = $("more");
    more.hidden = !page.next_cursor;
    more.querySelector("span").textContent = "Showing the newest " + rows.length + ".";
  }

  function renderCounts(stats) {
    const selected = select.value;
    const statuses = Object.keys(stats.by_status);
    if (selected && !statuses.includes(selected)) statuses.push(selected);
    statuses.sort();
    const key = statuses.join("\n");
    if (key !== shownStatuses) { // rebuild the options only when they change
      shownStatuses = key;
      const options = [el("option", null, "All statuses")];
      options[0].value = "";
      for (const status of statuses) {
        const option = el("option", null, status);
        option.value = status;
        options.push(option);
      }
      select.replaceChildren(...options);
      select.value = selected;
    }
    const buttons = [];
    const all = el("button", "count-all");
    all.type = "button";
    all.dataset.status = "";
    all.append("All ", el("span", "n", stats.total));
    buttons.push(all);
    for (const status of Object.keys(stats.by_status).sort()) {
      const button = el("button", statusClass(status));
      button.type = "button";
      button.dataset.status = status;
      button.append(status + " ", el("span", "n", stats.by_status[status]));
      buttons.push(button);
    }
    counts.replaceChildren(...buttons.map((button) => {
      button.setAttribute("aria-pressed", String(button.dataset.status === selected));
      button.addEventListener("click", () => { select.value = button.dataset.status; changed(); });
      const item = el("li");
      item.appendChild(button);
      return item;
    }));
    const roots = stats.roots.length;
    const daemon = stats.daemon && stats.daemon.running ? "daemon running" : "daemon not running";
    $("summary").textContent = stats.total + " dispatches in " + roots +
      (roots === 1 ? " folder" : " folders") + " · " + daemon;
  }

  function query() {
    const q = new URLSearchParams({ limit: String(limit) });
    if (select.value) q.append("status", select.value);
    const text = search.value.trim();
    if (text) q.append("text", text);
    return q.toString();
  }

  async function refresh() {
    clearTimeout(timer);
    const mine = ++generation;
    try {
      const [stats, page] = await Promise.all([
        getJSON("/api/v1/stats"),
        getJSON("/api/v1/dispatches?" + query()),
      ]);
      if (mine !== generation) return;
      renderCounts(stats);
      renderRows(page);
      errorBox.hidden = true;
      $("updated").textContent = "Updated " + formatTime(new Date().toISOString()) +
        "; refreshes every " + POLL_MS / 1000 + " s.";
    } catch (e) {
      if (mine !== generation) return;
      errorBox.textContent = e.status === 401
        ? "Not authorized: this server needs its token. Open this page as /?token=YOUR_TOKEN."
        : "Cannot read the index (" + e.message + "); retrying.";
      errorBox.hidden = false;
    } finally {
      if (mine === generation) timer = setTimeout(refresh, POLL_MS);
    }
  }

  function changed() {
    limit = PAGE;
    refresh();
  }

  async function showDetail(id) {
    detailId = id;
    try {
      const record = await getJSON("/api/v1/dispatches/" + encodeURIComponent(id));
      if (detailId !== id) return;
      detail.querySelector("h2").textContent = (record.lattice_name || "dispatch") + " · " + id;
      const errorText = $("detail-error");
      errorText.textContent = record.error || "";
      errorText.hidden = !record.error;
      $("detail-json").textContent = JSON.stringify(record, null, 2);
      detail.hidden = false;
    } catch (e) {
      errorBox.textContent = "Cannot read " + id + ": " + e.message;
      errorBox.hidden = false;
    }
  }

  async function download() {
    if (detailId === null) return;
    const id = detailId;
    const response = await fetch(
      "/api/v1/dispatches/" + encodeURIComponent(id) + "/result.pkl",
      { headers: headers() });
    if (!response.ok) {
      errorBox.textContent = "No result.pkl stored for " + id + ".";
      errorBox.hidden = false;
      return;
    }
    const link = el("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = id + "-result.pkl";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  }

  select.addEventListener("change", changed);
  let typing = null;
  search.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(changed, 300); });
  $("show-more").addEventListener("click", () => { limit += PAGE; refresh(); });
  $("close-detail").addEventListener("click", () => { detail.hidden = true; detailId = null; });
  $("download").addEventListener("click", download);
  refresh();
})();
