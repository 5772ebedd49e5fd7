"use strict";
(function () {
  const { getJSON, el, svg, link, dispatchPath, statusClass, colour, formatTime, formatSeconds,
    duration, showError } = window.CI;
  const $ = (id) => document.getElementById(id);
  const dispatchId = decodeURIComponent(window.location.pathname.slice("/dispatches/".length));
  const api = "/api/v1/dispatches/" + encodeURIComponent(dispatchId);
  const errorBox = $("error");
  const graphSvg = $("graph");
  const POLL_MS = 3000;
  // Below this many pixels per layout unit a label cannot be read.
  const MIN_SCALE = 0.55;
  const READABLE = 0.9;
  // What the tests (and a curious person) can read: how long the graph took.
  window.CIPage = { ready: false, renderMs: null, tasks: 0 };

  let view = null; // the SVG viewBox: x, y, w, h
  let bounds = null;
  let selected = null;

  function clip(text, n) {
    const s = String(text);
    return s.length > n ? s.slice(0, n - 1) + "…" : s;
  }

  function key(id) { return typeof id === "string" ? "s:" + id : "n:" + JSON.stringify(id); }

  function seconds(a, b) {
    if (!a || !b) return "";
    return formatSeconds((new Date(b).getTime() - new Date(a).getTime()) / 1000);
  }

  function fact(list, name, value, node) {
    if ((value === null || value === undefined || value === "") && !node) return;
    list.appendChild(el("dt", null, name));
    const dd = el("dd", null, node ? null : value);
    if (node) dd.appendChild(node);
    list.appendChild(dd);
  }

  function block(parent, title, text, className) {
    const section = el("section", "field");
    section.appendChild(el("h3", null, title));
    if (text === null || text === undefined) section.appendChild(el("p", "muted", "None recorded."));
    else if (text === "") section.appendChild(el("p", "muted", "Empty."));
    else section.appendChild(el("pre", className || null, text));
    parent.appendChild(section);
    return section;
  }

  // ---- the header ---------------------------------------------------------

  function header(data) {
    document.title = (data.lattice_name || "dispatch") + " · " + dispatchId;
    $("workflow").textContent = data.lattice_name || "(unnamed workflow)";
    const status = $("status");
    status.textContent = data.status || "UNKNOWN";
    status.className = "status " + statusClass(data.status);
    const facts = $("facts");
    facts.replaceChildren();
    fact(facts, "Dispatch id", dispatchId);
    fact(facts, "Started", formatTime(data.start_time));
    fact(facts, "Ended", formatTime(data.end_time));
    fact(facts, "Duration", duration(data));
    fact(facts, "Location", data.path + (data.missing ? " (missing)" : ""));
    if (data.pickled_results_dir && data.pickled_results_dir !== data.results_dir) {
      fact(facts, "Recorded results_dir", data.pickled_results_dir);
    }
    fact(facts, "Host", data.host);
    fact(facts, "Source", [data.origin, data.source].filter(Boolean).join(" · "));
    fact(facts, "Executor", data.workflow && data.workflow.executor);
    fact(facts, "Unreadable", data.unreadable);
    if (data.parent_dispatch_id) {
      const parent = $("parent-link");
      const path = dispatchPath(data.parent_dispatch_id);
      parent.replaceWith(link(path, data.parent_dispatch_id));
      $("parent").hidden = false;
    }
    $("dispatch-error").textContent = data.error || "";
    $("dispatch-error-box").hidden = !data.error;
  }

  // ---- the graph ----------------------------------------------------------

  function drawGraph(data) {
    const g = new dagre.graphlib.Graph({ multigraph: true });
    g.setGraph({ rankdir: "TB", nodesep: 14, ranksep: 34, edgesep: 6, marginx: 12, marginy: 12 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const task of data.tasks) {
      // Parameters are drawn small: a workflow's shape is in its tasks.
      const small = task.kind === "parameter";
      const label = clip(task.name || "#" + task.id, small ? 12 : 26);
      // A sub-workflow's shape holds a second line: the link to its page.
      const sub = Boolean(task.sub_dispatch_id);
      let width = small ? Math.max(26, label.length * 6 + 12) : Math.max(64, label.length * 7.4 + 26);
      if (sub) width = Math.max(width, 128);
      const height = small ? 18 : (sub ? 46 : 32);
      g.setNode(key(task.id), { width, height, task, label, small, sub });
    }
    data.edges.forEach((edge, i) => {
      const a = key(edge.source);
      const b = key(edge.target);
      if (g.hasNode(a) && g.hasNode(b)) g.setEdge(a, b, { name: edge.name }, "e" + i);
    });
    dagre.layout(g);

    const defs = svg("defs");
    const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5,
      markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    marker.appendChild(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow" }));
    defs.appendChild(marker);
    const edges = svg("g", { class: "edges" });
    for (const e of g.edges()) {
      const points = g.edge(e).points || [];
      if (!points.length) continue;
      const d = points.map((p, i) => (i ? "L" : "M") + p.x.toFixed(1) + " " + p.y.toFixed(1)).join(" ");
      const path = svg("path", { d, class: "edge", "marker-end": "url(#arrow)" });
      const name = g.edge(e).name;
      if (name) path.appendChild(svg("title", {}, name));
      edges.appendChild(path);
    }
    const nodes = svg("g", { class: "nodes" });
    for (const k of g.nodes()) {
      const n = g.node(k);
      const task = n.task;
      const group = svg("g", { class: "node " + task.kind + " " + statusClass(task.status),
        "data-id": String(task.id), tabindex: 0, role: "button",
        transform: "translate(" + (n.x - n.width / 2).toFixed(1) + "," + (n.y - n.height / 2).toFixed(1) + ")" });
      group.appendChild(svg("rect", { width: n.width, height: n.height, rx: n.small ? 9 : 6,
        fill: colour(task.status), class: "shape" }));
      group.appendChild(svg("text", { x: n.width / 2, y: n.sub ? 19 : n.height / 2 + (n.small ? 4 : 4.5),
        "text-anchor": "middle", class: "label" }, n.label));
      group.appendChild(svg("title", {}, (task.kind === "task" ? "" : task.kind + " ") + task.name +
        " · " + (task.status || "UNKNOWN") + (task.error ? "\n" + task.error : "")));
      group.addEventListener("click", () => showTask(task.id));
      group.addEventListener("keydown", (event) => { if (event.key === "Enter") showTask(task.id); });
      if (task.sub_dispatch_id) {
        // A sub-workflow's shape carries a link to its own dispatch page.
        const a = svg("a", { href: dispatchPath(task.sub_dispatch_id), class: "sub-link" });
        a.appendChild(svg("text", { x: n.width / 2, y: 37, "text-anchor": "middle" }, "open sub-workflow ↗"));
        a.addEventListener("click", (event) => { event.stopPropagation(); window.CI.go(dispatchPath(task.sub_dispatch_id), event); });
        group.appendChild(a);
      }
      nodes.appendChild(group);
    }
    graphSvg.replaceChildren(defs, edges, nodes);
    const size = g.graph();
    bounds = { x: 0, y: 0, w: Math.max(size.width || 1, 1), h: Math.max(size.height || 1, 1) };
    // Small graphs whole at their natural size. A graph that would shrink
    // past reading when whole opens at a readable scale on its first tasks,
    // in a box of most of the screen: pan and zoom from there, "Fit" for all.
    const box = graphSvg.parentElement.clientWidth || 800;
    const scale = Math.min(1.4, box / bounds.w, (window.innerHeight * 0.7) / bounds.h);
    if (scale >= MIN_SCALE) {
      graphSvg.style.height = Math.max(90, bounds.h * scale) + "px";
      fit();
      return;
    }
    const height = Math.max(240, window.innerHeight * 0.7);
    graphSvg.style.height = height + "px";
    const first = g.node(key(data.tasks[0].id));
    const w = box / READABLE;
    const x = Math.min(Math.max(bounds.x - 8, first.x - w / 2), bounds.x + bounds.w - w + 8);
    setView({ x, y: bounds.y - 8, w, h: height / READABLE });
  }

  function setView(v) {
    view = v;
    graphSvg.setAttribute("viewBox", [v.x, v.y, v.w, v.h].map((n) => n.toFixed(1)).join(" "));
  }

  function fit() {
    if (!bounds) return;
    const pad = 8;
    setView({ x: bounds.x - pad, y: bounds.y - pad, w: bounds.w + 2 * pad, h: bounds.h + 2 * pad });
  }

  function zoom(factor, cx, cy) {
    if (!view) return;
    const w = view.w * factor;
    const h = view.h * factor;
    const x = cx === undefined ? view.x + (view.w - w) / 2 : cx - (cx - view.x) * factor;
    const y = cy === undefined ? view.y + (view.h - h) / 2 : cy - (cy - view.y) * factor;
    setView({ x, y, w, h });
  }

  function toGraph(event) {
    const rect = graphSvg.getBoundingClientRect();
    const scale = Math.max(view.w / rect.width, view.h / rect.height);
    return [view.x + (event.clientX - rect.left) * scale, view.y + (event.clientY - rect.top) * scale, scale];
  }

  graphSvg.addEventListener("wheel", (event) => {
    if (!view) return;
    event.preventDefault();
    const [x, y] = toGraph(event);
    zoom(event.deltaY > 0 ? 1.15 : 1 / 1.15, x, y);
  }, { passive: false });
  let drag = null;
  graphSvg.addEventListener("pointerdown", (event) => {
    if (!view || event.target.closest(".node")) return;
    drag = { x: event.clientX, y: event.clientY, view: { ...view }, scale: toGraph(event)[2] };
    graphSvg.setPointerCapture(event.pointerId);
  });
  graphSvg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    setView({ ...drag.view, x: drag.view.x - (event.clientX - drag.x) * drag.scale,
      y: drag.view.y - (event.clientY - drag.y) * drag.scale });
  });
  graphSvg.addEventListener("pointerup", () => { drag = null; });
  $("fit").addEventListener("click", fit);
  $("zoom-in").addEventListener("click", () => zoom(1 / 1.3));
  $("zoom-out").addEventListener("click", () => zoom(1.3));

  function legend(tasks) {
    const seen = [...new Set(tasks.map((t) => t.status || "UNKNOWN"))].sort();
    $("legend").replaceChildren(...seen.map((status) => {
      const item = el("li", statusClass(status));
      const swatch = el("span", "swatch");
      swatch.style.background = colour(status);
      item.append(swatch, status);
      return item;
    }));
  }

  // ---- the task table and one task ----------------------------------------

  function table(data) {
    const rows = data.tasks.map((task) => {
      const tr = el("tr");
      tr.dataset.id = String(task.id);
      tr.appendChild(el("td", "num", task.id));
      const name = el("td", "name " + task.kind, task.name);
      if (task.kind !== "task") name.appendChild(el("span", "tag", task.kind));
      if (task.sub_dispatch_id) {
        name.append(" ");
        name.appendChild(link(dispatchPath(task.sub_dispatch_id), "sub-workflow ↗", "sub-link"));
      }
      tr.appendChild(name);
      tr.appendChild(el("td", "status " + statusClass(task.status), task.status || "UNKNOWN"));
      tr.appendChild(el("td", "start", formatTime(task.start_time)));
      tr.appendChild(el("td", "duration", seconds(task.start_time, task.end_time)));
      tr.appendChild(el("td", "error", task.error || ""));
      tr.addEventListener("click", (event) => { if (!event.target.closest("a")) showTask(task.id); });
      return tr;
    });
    document.querySelector("#tasks tbody").replaceChildren(...rows);
  }

  async function showTask(id) {
    selected = id;
    for (const node of graphSvg.querySelectorAll(".node")) {
      node.classList.toggle("selected", node.dataset.id === String(id));
    }
    for (const tr of document.querySelectorAll("#tasks tbody tr")) {
      tr.classList.toggle("selected", tr.dataset.id === String(id));
    }
    try {
      const task = await getJSON(api + "/nodes/" + encodeURIComponent(String(id)));
      if (selected !== id) return;
      $("task-title").textContent = "Task " + task.id + ": " + task.name;
      const facts = $("task-facts");
      facts.replaceChildren();
      const status = el("span", "status " + statusClass(task.status), task.status || "UNKNOWN");
      fact(facts, "Status", null, status);
      fact(facts, "Kind", task.kind);
      fact(facts, "Started", formatTime(task.start_time));
      fact(facts, "Duration", seconds(task.start_time, task.end_time));
      if (task.sub_dispatch_id) fact(facts, "Sub-workflow", null, link(dispatchPath(task.sub_dispatch_id), task.sub_dispatch_id));
      const fields = $("task-fields");
      fields.replaceChildren();
      const inputs = el("section", "field");
      inputs.appendChild(el("h3", null, "Inputs"));
      const names = Object.keys(task.inputs || {});
      if (!names.length) inputs.appendChild(el("p", "muted", "None recorded."));
      const list = el("dl", "inputs");
      for (const name of names) {
        list.appendChild(el("dt", null, name));
        const dd = el("dd");
        dd.appendChild(el("pre", null, task.inputs[name] === null ? "None" : task.inputs[name]));
        list.appendChild(dd);
      }
      inputs.appendChild(list);
      fields.appendChild(inputs);
      block(fields, "Output", task.output).id = "task-output";
      block(fields, "stdout", task.stdout).id = "task-stdout";
      block(fields, "stderr", task.stderr).id = "task-stderr";
      if (task.error) block(fields, "Error", task.error, "error-text").id = "task-error";
      if (task.function_string) block(fields, "Source", task.function_string);
      if (task.doc) block(fields, "Docstring", task.doc);
      $("task-detail").hidden = false;
      if (window.innerWidth < 700) $("task-detail").scrollIntoView();
    } catch (e) {
      showError(errorBox, e, "task " + id);
    }
  }

  $("close-task").addEventListener("click", () => {
    $("task-detail").hidden = true;
    selected = null;
    for (const node of graphSvg.querySelectorAll(".node.selected")) node.classList.remove("selected");
  });

  // ---- the workflow ---------------------------------------------------------

  function workflow(data) {
    const fields = $("workflow-fields");
    fields.replaceChildren();
    const wf = data.workflow || {};
    if (wf.doc) block(fields, "Docstring", wf.doc);
    const inputs = wf.inputs;
    block(fields, "Inputs", inputs && typeof inputs === "object"
      ? Object.entries(inputs).map(([k, v]) => k + " = " + v).join("\n") : inputs);
    block(fields, "Source", wf.function_string, "source");
    block(fields, "Result", data.result).id = "result-preview";
  }

  async function download() {
    const response = await fetch(api + "/result.pkl", { headers: window.CI.headers() });
    if (!response.ok) {
      errorBox.textContent = "No result bytes are stored for this dispatch.";
      errorBox.hidden = false;
      return;
    }
    const a = el("a");
    a.href = URL.createObjectURL(await response.blob());
    a.download = dispatchId + "-result.pkl";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }
  $("download").addEventListener("click", download);

  function taskKey(data) {
    return data.tasks.map((t) => key(t.id)).join(" ") + "|" + data.edges.length;
  }

  // A dispatch still running is asked again every few seconds: the same
  // tasks are recoloured in place (the view stays where it was panned);
  // new tasks are laid out again.
  function recolour(data) {
    const byId = new Map(data.tasks.map((t) => [String(t.id), t]));
    for (const node of graphSvg.querySelectorAll(".node")) {
      const task = byId.get(node.dataset.id);
      if (!task) continue;
      node.setAttribute("class", "node " + task.kind + " " + statusClass(task.status) +
        (node.classList.contains("selected") ? " selected" : ""));
      node.querySelector(".shape").setAttribute("fill", colour(task.status));
    }
  }

  let shownTasks = null;
  let poll = null;

  function render(data) {
    header(data);
    $("task-count").textContent = data.tasks.length + (data.tasks.length === 1 ? " task" : " tasks") +
      (data.tasks_omitted ? " (" + data.tasks_omitted + " more not stored)" : "");
    const shape = taskKey(data);
    if (shape === shownTasks) recolour(data);
    else if (data.tasks.length) drawGraph(data);
    else graphSvg.hidden = true;
    shownTasks = shape;
    legend(data.tasks);
    table(data);
    if (selected !== null) {
      for (const tr of document.querySelectorAll("#tasks tbody tr")) {
        tr.classList.toggle("selected", tr.dataset.id === String(selected));
      }
    }
    workflow(data);
  }

  async function load() {
    clearTimeout(poll);
    try {
      const data = await getJSON(api + "/graph");
      const started = performance.now();
      render(data);
      // Layout and drawing, once the browser has laid the page out.
      await new Promise((resolve) => requestAnimationFrame(() => resolve()));
      if (!window.CIPage.ready) {
        window.CIPage = { ready: true, renderMs: performance.now() - started, tasks: data.tasks.length };
      }
      if (!window.CI.FINAL.has(data.status) && !data.missing) poll = setTimeout(load, POLL_MS);
    } catch (e) {
      if (window.CIPage.ready) { poll = setTimeout(load, POLL_MS); return; } // keep what is shown
      $("workflow").textContent = "Dispatch " + dispatchId;
      showError(errorBox, e, "this dispatch");
      window.CIPage = { ready: true, failed: e.message, renderMs: null, tasks: 0 };
    }
  }
  load();
})();
