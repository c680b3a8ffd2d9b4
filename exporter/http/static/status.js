// The status page: reads /api/monitoring/status (Statuspage v2 summary shape, plus uptime_days,
// uptime_month_to_date and sla_target per component) and draws it. No framework, no build step:
// every element is built with the DOM API and filled with textContent (never innerHTML), so
// nothing in the JSON can inject markup.
"use strict";

(function () {
  const REFRESH_MS = 60 * 1000;
  const SVG = "http://www.w3.org/2000/svg";
  const STATUS_TEXT = {
    operational: "Operational",
    degraded_performance: "Degraded performance",
    partial_outage: "Partial outage",
    major_outage: "Major outage",
    under_maintenance: "Under maintenance",
  };
  const INCIDENT_STATUS_TEXT = {
    investigating: "Investigating",
    identified: "Identified",
    monitoring: "Monitoring",
    resolved: "Resolved",
    postmortem: "Postmortem",
    scheduled: "Scheduled",
    in_progress: "In progress",
    verifying: "Verifying",
    completed: "Completed",
  };
  const dateTime = new Intl.DateTimeFormat("en-GB", {
    dateStyle: "medium", timeStyle: "short", timeZone: "UTC",
  });

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    return node;
  }

  function percent(value) {
    if (value === null || value === undefined) return "no data";
    return `${Number(value).toFixed(2).replace(/\.?0+$/, "")}%`;
  }

  function minutes(value) {
    return value >= 1 ? `${Math.round(value)} min` : `${Math.round(value * 60)} s`;
  }

  function when(iso) {
    if (!iso) return "unknown";
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? iso : `${dateTime.format(date)} UTC`;
  }

  function timeEl(iso) {
    return el("time", { datetime: iso }, when(iso));
  }

  function barClass(uptime, target) {
    if (uptime === null || uptime === undefined) return "bar-none";
    if (uptime >= target) return "bar-ok";
    return uptime >= 95 ? "bar-warn" : "bar-bad";
  }

  function uptimeSummary(days, target) {
    const known = days.filter((d) => d.uptime !== null && d.uptime !== undefined);
    if (known.length === 0) return `No uptime data for the last ${days.length} days.`;
    const below = known.filter((d) => d.uptime < target);
    const lowest = known.reduce((a, b) => (b.uptime < a.uptime ? b : a));
    return `${days.length}-day uptime: ${known.length} of ${days.length} days with data, ` +
      `${below.length} below the ${percent(target)} target; lowest ${percent(lowest.uptime)} on ${lowest.date}.`;
  }

  function uptimeBars(component, summaryId) {
    const days = component.uptime_days || [];
    const step = 8;
    const chart = svg("svg", {
      class: "bars", viewBox: `0 0 ${days.length * step} 34`, preserveAspectRatio: "none",
      role: "img", "aria-labelledby": summaryId, focusable: "false",
    });
    days.forEach((day, i) => {
      const bar = svg("rect", {
        x: i * step, y: 0, width: step - 2, height: 34, rx: 1.5,
        class: barClass(day.uptime, component.sla_target), "data-date": day.date,
      });
      const title = svg("title");
      const lost = [];
      if (day.downtime_minutes) lost.push(`${minutes(day.downtime_minutes)} down`);
      if (day.unobserved_minutes) lost.push(`${minutes(day.unobserved_minutes)} not observed`);
      title.textContent = `${day.date}: ${percent(day.uptime)}${lost.length ? ` (${lost.join(", ")})` : ""}`;
      bar.append(title);
      chart.append(bar);
    });
    return chart;
  }

  function dayTable(component) {
    const rows = (component.uptime_days || []).slice().reverse().map((day) =>
      el("tr", {}, el("th", { scope: "row" }, day.date), el("td", {}, percent(day.uptime))));
    return el("details", { class: "days" },
      el("summary", {}, `Daily uptime of ${component.name}`),
      el("table", {},
        el("caption", { class: "visually-hidden" }, `Daily uptime of ${component.name}, newest first`),
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Day (UTC)"), el("th", { scope: "col" }, "Uptime"))),
        el("tbody", {}, ...rows)));
  }

  function componentItem(component) {
    const summaryId = `uptime-summary-${component.id}`;
    const days = component.uptime_days || [];
    const item = el("li", { class: "component", "data-component": component.id, "data-status": component.status },
      el("div", { class: "component-head" },
        el("h3", { class: "component-name" }, component.name),
        el("p", { class: `component-status status-${component.status}` },
          el("span", { class: "dot", "aria-hidden": "true" }),
          STATUS_TEXT[component.status] || component.status)),
      component.description ? el("p", { class: "component-description" }, component.description) : null);
    if (component.showcase !== false) {
      item.append(
        uptimeBars(component, summaryId),
        el("div", { class: "bar-axis", "aria-hidden": "true" },
          el("span", {}, `${days.length} days ago`), el("span", {}, "Today")),
        el("p", { class: "uptime-figures" },
          el("span", {}, `This month: ${percent(component.uptime_month_to_date)}`),
          el("span", {}, `SLA target: ${percent(component.sla_target)}`)),
        el("p", { id: summaryId, class: "uptime-summary" }, uptimeSummary(days, component.sla_target)),
        dayTable(component));
    }
    return item;
  }

  function incidentItem(incident) {
    const resolved = incident.status === "resolved" || incident.status === "completed";
    const updates = (incident.incident_updates || []).map((update) =>
      el("li", {},
        el("strong", {}, `${INCIDENT_STATUS_TEXT[update.status] || update.status}: `),
        update.body, " ", el("span", { class: "muted" }, "(", timeEl(update.display_at || update.created_at), ")")));
    const affected = (incident.components || []).map((c) => c.name).join(", ");
    const period = incident.scheduled_for
      ? [" · from ", timeEl(incident.scheduled_for), " to ", timeEl(incident.scheduled_until)]
      : resolved && incident.resolved_at
        ? [" · from ", timeEl(incident.started_at || incident.created_at), " to ", timeEl(incident.resolved_at)]
        : [" · since ", timeEl(incident.started_at || incident.created_at)];
    return el("article", {
      class: `incident impact-${incident.impact}${resolved ? " resolved" : ""}`, "data-incident": incident.id,
      "data-status": incident.status,
    },
    el("h3", {}, incident.name),
    el("p", { class: "incident-meta" },
      `${INCIDENT_STATUS_TEXT[incident.status] || incident.status} · impact ${incident.impact}`,
      affected ? ` · affects ${affected}` : "", ...period),
    updates.length ? el("ul", { class: "updates" }, ...updates) : null);
  }

  function listOr(items, empty) {
    return items.length ? items.map(incidentItem) : [el("p", { class: "no-incidents" }, empty)];
  }

  function render(summary) {
    const page = summary.page || {};
    const name = page.name || "Service";
    document.title = `${name} status`;
    document.getElementById("page-name").textContent = `${name} status`;
    const updated = document.getElementById("updated-at");
    updated.setAttribute("datetime", page.updated_at || "");
    updated.textContent = when(page.updated_at);

    const overall = document.getElementById("overall");
    overall.dataset.indicator = summary.status.indicator;
    document.getElementById("overall-text").textContent = summary.status.description;

    const shown = (summary.components || [])
      .filter((c) => !c.group && !(c.only_show_if_degraded && c.status === "operational"))
      .sort((a, b) => (a.position || 0) - (b.position || 0));
    document.getElementById("components").replaceChildren(...shown.map(componentItem));

    const incidents = summary.incidents || [];
    const open = incidents.filter((i) => i.status !== "resolved" && i.status !== "postmortem");
    const past = incidents.filter((i) => i.status === "resolved" || i.status === "postmortem");
    document.getElementById("incidents").replaceChildren(...listOr(open, "No incidents right now."));
    document.getElementById("past-incidents").replaceChildren(
      ...listOr(past, "No incidents in the last 90 days."));
    document.getElementById("maintenance").replaceChildren(
      ...listOr(summary.scheduled_maintenances || [], "No maintenance scheduled."));
  }

  function showError(message) {
    const overall = document.getElementById("overall");
    overall.dataset.indicator = "unknown";
    document.getElementById("overall-text").textContent = message;
    document.body.dataset.state = "error";
  }

  async function refresh() {
    try {
      const response = await fetch("api/monitoring/status", { headers: { Accept: "application/json" } });
      if (!response.ok) {
        showError(`The status could not be loaded (HTTP ${response.status}); retrying in a minute.`);
        return;
      }
      render(await response.json());
      document.body.dataset.state = "ready";
    } catch (error) {
      showError(`The status could not be loaded (${error.message}); retrying in a minute.`);
    }
  }

  refresh();
  setInterval(refresh, REFRESH_MS);
})();
