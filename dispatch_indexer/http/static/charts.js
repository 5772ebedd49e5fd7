"use strict";
// The list page's chart strip, drawn as SVG from /api/v1/stats/timeline
// (aggregates the database counted; no record is fetched for it).
window.CICharts = (function () {
  const { getJSON, svg, colour, statusName } = window.CI;
  const ORDER = ["COMPLETED", "RUNNING", "POSTPROCESSING", "PENDING_POSTPROCESSING",
    "NEW_OBJECT", "CANCELLED", "POSTPROCESSING_FAILED", "FAILED"];
  const H = 110;
  const TOP = 14;
  const BOTTOM = 20;

  function rank(status) {
    const i = ORDER.indexOf(statusName(status));
    return i < 0 ? ORDER.length : i;
  }

  function dayList(first, count) {
    const out = [];
    const start = new Date(first + "T00:00:00Z");
    for (let i = 0; i < count; i++) {
      out.push(new Date(start.getTime() + i * 86400000).toISOString().slice(0, 10));
    }
    return out;
  }

  function perDay(target, data) {
    const days = dayList(data.first_day, data.days);
    const byDay = Object.fromEntries(data.per_day.map((d) => [d.day, d]));
    // Laid out in the SVG's own pixels, so a phone gets thin bars, not tiny text.
    const left = 28;
    const width = Math.max(200, target.clientWidth || 600);
    const step = (width - left - 4) / days.length;
    const gap = Math.min(2, step * 0.25);
    const bar = step - gap;
    const max = Math.max(1, ...data.per_day.map((d) => d.total));
    const scale = (H - TOP - BOTTOM) / max;
    const parts = [
      svg("line", { x1: left - 2, y1: H - BOTTOM + 0.5, x2: width, y2: H - BOTTOM + 0.5, class: "axis" }),
      svg("text", { x: left - 5, y: TOP + 4, "text-anchor": "end", class: "tick" }, max),
      svg("text", { x: left - 5, y: H - BOTTOM, "text-anchor": "end", class: "tick" }, 0),
    ];
    days.forEach((day, i) => {
      const x = left + i * step;
      const entry = byDay[day];
      const group = svg("g", { class: "day", "data-day": day, "data-total": entry ? entry.total : 0 });
      let y = H - BOTTOM;
      if (entry) {
        const statuses = Object.keys(entry.by_status).sort((a, b) => rank(a) - rank(b));
        for (const status of statuses) {
          const n = entry.by_status[status];
          const h = Math.max(1, n * scale);
          y -= h;
          group.appendChild(svg("rect", { x, y, width: bar, height: h, fill: colour(status),
            "data-status": status, "data-count": n }));
        }
        const lines = statuses.map((s) => entry.by_status[s] + " " + s);
        group.appendChild(svg("title", {}, day + ": " + lines.join(", ")));
      } else {
        group.appendChild(svg("rect", { x, y: H - BOTTOM - 1, width: bar, height: 1, class: "none" }));
        group.appendChild(svg("title", {}, day + ": none"));
      }
      parts.push(group);
      const date = new Date(day + "T00:00:00Z");
      if (date.getUTCDate() === 1 || i === 0 || i === days.length - 1) {
        const label = i === days.length - 1 ? "today" : day.slice(5);
        const anchor = i === 0 ? "start" : (i === days.length - 1 ? "end" : "middle");
        parts.push(svg("text", { x: x + bar / 2, y: H - 5, "text-anchor": anchor, class: "tick" }, label));
      }
    });
    target.setAttribute("viewBox", "0 0 " + width + " " + H);
    target.replaceChildren(...parts);
  }

  function durations(target, data) {
    const buckets = data.durations;
    const width = Math.max(200, target.clientWidth || 360);
    const gap = 6;
    const bar = width / buckets.length - gap;
    const max = Math.max(1, ...buckets.map((b) => b.count));
    const scale = (H - TOP - BOTTOM - 4) / max;
    const parts = [svg("line", { x1: 0, y1: H - BOTTOM + 0.5, x2: width, y2: H - BOTTOM + 0.5, class: "axis" })];
    buckets.forEach((bucket, i) => {
      const x = i * (bar + gap) + gap / 2;
      const h = bucket.count ? Math.max(1, bucket.count * scale) : 0;
      const group = svg("g", { class: "bucket", "data-count": bucket.count });
      group.appendChild(svg("rect", { x, y: H - BOTTOM - h, width: bar, height: h, class: "duration-bar" }));
      group.appendChild(svg("text", { x: x + bar / 2, y: H - BOTTOM - h - 3, "text-anchor": "middle", class: "count" }, bucket.count));
      group.appendChild(svg("text", { x: x + bar / 2, y: H - 5, "text-anchor": "middle", class: "tick" }, bucket.label));
      group.appendChild(svg("title", {}, bucket.label + ": " + bucket.count + " dispatches"));
      parts.push(group);
    });
    target.setAttribute("viewBox", "0 0 " + width + " " + H);
    target.replaceChildren(...parts);
  }

  let last = null;
  window.addEventListener("resize", () => { if (last) { perDay(document.getElementById("chart-days-svg"), last); durations(document.getElementById("chart-durations-svg"), last); } });

  async function draw(days) {
    const data = await getJSON("/api/v1/stats/timeline?days=" + (days || 90));
    last = data;
    document.getElementById("chart-days").textContent = String(data.days);
    perDay(document.getElementById("chart-days-svg"), data);
    durations(document.getElementById("chart-durations-svg"), data);
    return data;
  }

  return { draw };
})();
