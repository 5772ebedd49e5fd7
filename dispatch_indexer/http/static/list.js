"use strict";
(function () {
  const { getJSON, el, link, dispatchPath, go, statusClass, formatTime, duration } = window.CI;
  const POLL_MS = 2000;
  const CHART_MS = 30000;
  const PAGE = 50;

  const $ = (id) => document.getElementById(id);
  const tbody = document.querySelector("#dispatches tbody");
  const select = $("status-filter");
  const search = $("text-filter");
  const counts = $("counts");
  const errorBox = $("error");

  // Every order pages by cursor (a stack of the cursors that led here, so
  // "Previous" goes back): keyset pages hold at a million records.
  let cursors = [null];
  let sort = null;
  let order = "desc";
  let generation = 0; // answers to a request older than the filters are dropped
  let timer = null;
  let shownStatuses = "";
  let chartsAt = 0;

  function row(record) {
    const tr = el("tr");
    tr.dataset.id = record.dispatch_id;
    const path = dispatchPath(record.dispatch_id);
    const status = el("td", "status " + statusClass(record.status), record.status || "UNKNOWN");
    if (record.missing) status.appendChild(el("span", "tag", "missing"));
    if (record.unreadable) {
      const tag = el("span", "tag", "unreadable");
      tag.title = record.unreadable;
      status.appendChild(tag);
    }
    tr.appendChild(status);
    tr.appendChild(el("td", "workflow", record.lattice_name || ""));
    const idCell = el("td", "id");
    idCell.appendChild(link(path, record.dispatch_id));
    tr.appendChild(idCell);
    const start = el("td", "start", formatTime(record.start_time));
    if (record.start_time) start.title = record.start_time;
    tr.appendChild(start);
    tr.appendChild(el("td", "end", formatTime(record.end_time)));
    tr.appendChild(el("td", "duration", duration(record)));
    const where = el("td", "location", record.path);
    where.title = record.results_dir || "";
    tr.appendChild(where);
    if (record.error) tr.title = record.error;
    tr.addEventListener("click", (event) => {
      if (event.target.closest("a")) return;
      if (!window.CI.headers().Authorization) window.location.assign(path);
      else go(path);
    });
    return tr;
  }

  function renderRows(page) {
    const records = page.dispatches;
    tbody.replaceChildren(...records.map(row));
    $("empty").hidden = records.length > 0;
    $("newer").hidden = cursors.length <= 1;
    $("older").hidden = !page.next_cursor;
    $("older").dataset.next = page.next_cursor || "";
    const by = sort ? " by " + sort.replace("_", " ") + (order === "asc" ? ", ascending" : ", descending") : "";
    $("page-info").textContent = "Page " + cursors.length + " · " + records.length + " dispatches" + by;
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
    const q = new URLSearchParams();
    if (sort) {
      q.set("sort", sort);
      q.set("order", order);
    }
    q.set("limit", String(PAGE));
    const cursor = cursors[cursors.length - 1];
    if (cursor) q.set("cursor", cursor);
    if (select.value) q.append("status", select.value);
    const text = search.value.trim();
    if (text) q.append("text", text);
    return q.toString();
  }

  function markSorted() {
    for (const th of document.querySelectorAll("#dispatches th[data-sort]")) {
      const active = th.dataset.sort === sort;
      th.setAttribute("aria-sort", active ? (order === "asc" ? "ascending" : "descending") : "none");
    }
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
      if (Date.now() - chartsAt > CHART_MS) {
        chartsAt = Date.now();
        window.CICharts.draw().catch(() => { chartsAt = 0; });
      }
    } catch (e) {
      if (mine !== generation) return;
      window.CI.showError(errorBox, e, "the index");
      errorBox.textContent += e.status === 401 ? "" : " Retrying.";
    } finally {
      if (mine === generation) timer = setTimeout(refresh, POLL_MS);
    }
  }

  function changed() {
    cursors = [null];
    refresh();
  }

  for (const th of document.querySelectorAll("#dispatches th[data-sort]")) {
    th.querySelector("button").addEventListener("click", () => {
      const column = th.dataset.sort;
      if (sort === column) order = order === "asc" ? "desc" : "asc";
      else { sort = column; order = column === "lattice_name" || column === "status" ? "asc" : "desc"; }
      markSorted();
      changed();
    });
  }
  select.addEventListener("change", changed);
  let typing = null;
  search.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(changed, 300); });
  $("older").addEventListener("click", () => {
    const next = $("older").dataset.next;
    if (next) { cursors.push(next); refresh(); }
  });
  $("newer").addEventListener("click", () => { if (cursors.length > 1) { cursors.pop(); refresh(); } });
  markSorted();
  refresh();
})();
