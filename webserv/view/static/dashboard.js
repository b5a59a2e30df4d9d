// The live dashboard: reads the server's state as JSON every two seconds and draws it.
// Every value goes in as text (env clients and ids come from callers), never as HTML.
(function () {
  "use strict";
  const root = document.getElementById("dashboard");
  if (!root) return;
  const POLL_MS = 2000;
  const SVG = "http://www.w3.org/2000/svg";
  const status = root.querySelector("[data-status]");

  function field(name, value) {
    for (const element of root.querySelectorAll(`[data-field="${name}"]`)) {
      element.textContent = value;
    }
  }

  function duration(seconds) {
    if (seconds < 90) return `${Math.round(seconds)} s`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  }

  function ms(value) {
    return value === null ? "-" : `${value.toFixed(value < 10 ? 1 : 0)} ms`;
  }

  // Rows of cells into a table body; a cell is text, or [text, class].
  function fill(name, rows, empty) {
    const body = root.querySelector(`[data-table="${name}"]`);
    body.replaceChildren();
    for (const cells of rows.length ? rows : [[[empty, "empty"]]]) {
      const row = body.insertRow();
      for (const cell of cells) {
        const [text, css] = Array.isArray(cell) ? cell : [cell, ""];
        const td = row.insertCell();
        td.textContent = String(text);
        if (css) td.className = css;
        if (rows.length === 0) td.colSpan = 9;
      }
    }
  }

  function element(name, attributes) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
    return node;
  }

  // Buckets oldest first: count bars at the bottom, p50 and p95 lines above them.
  function chart(svg, window) {
    const width = Number(svg.getAttribute("width"));
    const height = Number(svg.getAttribute("height"));
    const top = 12, bars = 24, bottom = height - 14;
    const buckets = window.buckets;
    const step = width / buckets.length;
    const highest = Math.max(1, ...buckets.map((b) => b.p95_ms || 0));
    const most = Math.max(1, ...buckets.map((b) => b.n));
    const y = (value) => bottom - bars - 4 - (value / highest) * (bottom - bars - 4 - top);
    svg.replaceChildren(element("line", { class: "axis", x1: 0, x2: width, y1: bottom, y2: bottom }));
    buckets.forEach((bucket, i) => {
      if (!bucket.n) return;
      const tall = (bucket.n / most) * bars;
      svg.append(element("rect", { x: i * step + 1, y: bottom - tall, width: step - 2, height: tall, fill: "#d5dae1" }));
    });
    for (const [key, css] of [["p95_ms", "p95"], ["p50_ms", "p50"]]) {
      const points = buckets
        .map((bucket, i) => (bucket[key] === null ? null : [(i + 0.5) * step, y(bucket[key])]))
        .filter((point) => point !== null);
      if (points.length > 1) {
        svg.append(element("polyline", { class: css, points: points.map((p) => p.join(",")).join(" ") }));
      }
      for (const [cx, cy] of points) svg.append(element("circle", { class: css, cx, cy, r: 2 }));
    }
    const label = (x, yy, text, anchor) => {
      const node = element("text", { x, y: yy, "text-anchor": anchor });
      node.textContent = text;
      svg.append(node);
    };
    label(2, 10, ms(highest), "start");
    label(2, height - 2, `-${Math.round(window.span_s / 60)} min`, "start");
    label(width - 2, height - 2, "now", "end");
  }

  function sum(rows, key) {
    return rows.reduce((total, row) => total + row[key], 0);
  }

  function draw(data) {
    field("server", data.server);
    field("sites", data.sites.join(", ") || "-");
    field("store", data.store);
    field("uptime", duration(data.uptime_s));
    field("envs_open", data.envs_open);
    field("max_envs", data.max_envs);
    field("warm", sum(data.pool_sites, "warm"));
    field("leased", sum(data.pool_sites, "leased"));
    field("launching", sum(data.pool_sites, "launching"));
    field("steps_total", data.steps_total);
    field("resets_total", data.resets_total);
    field("errors_recent_total", Object.values(data.errors_recent).reduce((a, b) => a + b, 0));
    fill("pool_sites", data.pool_sites.map((s) => [s.backend, s.site, [`${s.warm} / ${s.standby_target}`, "num"], [s.leased, "num"], [s.launching, "num"], s.golden]), "no pool: recorded sessions only");
    field("pools", data.pools.map((p) => `${p.backend}: at most ${p.max_instances} instances, ${(p.available_memory_bytes / 2 ** 30).toFixed(1)} GiB free; ` + Object.entries(p.counters).map(([k, v]) => `${k} ${v}`).join(", ")).join(" · "));
    for (const [key, name] of [["step_latency", "step_summary"], ["reset_latency", "reset_summary"]]) {
      const window = data[key];
      field(name, `${window.n} in 10 min · p50 ${ms(window.p50_ms)} · p95 ${ms(window.p95_ms)}`);
      chart(root.querySelector(`[data-chart="${key}"]`), window);
    }
    fill("envs", data.envs.map((e) => [e.env_id, e.site, e.task_id ?? "-", [e.steps, "num"], e.episode_running ? "running" : "over", [duration(e.age_s), "num"], [duration(e.expires_in_s), "num"], e.client, e.group || "-"]), "no live env");
    const codes = Object.keys({ ...data.errors_total, ...data.errors_recent }).sort();
    fill("errors", codes.map((code) => [code, [data.errors_recent[code] || 0, "num"], [data.errors_total[code] || 0, "num"]]), "no error");
    fill("instances", data.instances.map((i) => [i.id, i.site, i.state === "standby" ? "warm" : i.state, i.url, [i.expires_in_s === null ? "-" : duration(i.expires_in_s), "num"]]), "no instance");
  }

  async function poll() {
    try {
      const response = await fetch(root.dataset.api, { credentials: "same-origin", cache: "no-store" });
      if (response.status === 401) {
        location.assign(root.dataset.login);
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      draw(await response.json());
      status.textContent = `read ${new Date().toLocaleTimeString()}`;
      status.classList.remove("stale");
    } catch (error) {
      status.textContent = `cannot read the server: ${error.message}`;
      status.classList.add("stale");
    }
    setTimeout(poll, POLL_MS);
  }
  poll();
})();
