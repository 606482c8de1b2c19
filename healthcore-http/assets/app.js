// healthcore dashboard. Plain modern JavaScript: no framework, no build
// step, no CDN. Every URL is relative to the page, so the page works under
// any mount prefix. Data is only ever put in the page with textContent or
// attributes, never parsed as markup. The bearer token lives in sessionStorage;
// the event stream authenticates with a single-use ticket from
// POST events/ticket because EventSource cannot send headers.
"use strict";

(() => {
  const TOKEN_KEY = "healthcore.token";
  const REFRESH_MS = 30000;
  const EVENT_NAMES = [
    "health:status_changed", "health:alert_created", "health:alert_acknowledged",
    "health:alert_resolved", "health:alert_escalated", "health:heal_attempted",
    "health:breaker_changed", "health:lifecycle_changed", "health:summary_updated",
    "health:lagged",
  ];
  const STATUSES = ["healthy", "degraded", "down", "unknown"];

  // Under Router::nest("/api/v1", …) the page is served at /api/v1 (no
  // trailing slash): API paths are then relative to its last segment.
  const BASE = location.pathname.endsWith("/")
    ? "" : location.pathname.slice(location.pathname.lastIndexOf("/") + 1) + "/";
  const $ = (id) => document.getElementById(id);
  const perf = {
    scriptAt: performance.now(), gridRenderedAt: null, gridPaintedAt: null,
    gridFetchMs: null, gridRenderMs: null, gridRenders: 0, cspViolations: [],
  };
  window.healthcoreDashboard = perf;
  document.addEventListener("securitypolicyviolation", (e) => {
    perf.cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
  });

  const state = {
    token: null,
    grid: null,
    selected: null,
    filter: "",
    es: null,
    live: false,
    retry: 0,
    reconnectTimer: null,
    refreshTimer: null,
    pending: { grid: false, alerts: false, detail: false, checklist: false },
    debounce: null,
    lastRun: -Infinity,
    alertsAll: false,
    restartFor: null,
  };

  // ---- helpers ------------------------------------------------------------

  class HttpError extends Error {
    constructor(status, body) {
      super((body && body.error && body.error.message) || ("HTTP " + status));
      this.status = status;
      this.body = body;
    }
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  const enc = encodeURIComponent;

  function statusClass(s) {
    return STATUSES.includes(s) ? s : "unknown";
  }

  function words(s) {
    return String(s).replace(/_/g, " ");
  }

  // an observation's outcome drawn in the colour of the status it means
  function outcomeStatus(o) {
    return { pass: "healthy", warn: "degraded", fail: "down", timeout: "down", unreachable: "down" }[o] || "unknown";
  }

  function badge(label, status) {
    return el("span", "badge b-" + statusClass(status), label);
  }

  function ago(iso, now) {
    if (!iso) return "never";
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return "—";
    const s = Math.max(0, Math.round(((now || Date.now()) - t) / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }

  function when(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? "—" : d.toLocaleString();
  }

  function pct(p) {
    return typeof p === "number" ? p.toFixed(p >= 99.95 || p === 0 ? 1 : 2) + " %" : "—";
  }

  function ms(v) {
    return typeof v === "number" ? (v < 10 ? v.toFixed(1) : Math.round(v)) + " ms" : "—";
  }

  function dur(seconds) {
    const s = Math.round(seconds);
    if (s < 120) return s + " s";
    if (s < 7200) return Math.round(s / 60) + " min";
    if (s < 172800) return (s / 3600).toFixed(1) + " h";
    return (s / 86400).toFixed(1) + " d";
  }

  // ---- API ----------------------------------------------------------------

  async function api(path, opts) {
    const o = opts || {};
    const headers = { Accept: "application/json" };
    if (state.token) headers.Authorization = "Bearer " + state.token;
    let body;
    if (o.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(o.body);
    }
    const res = await fetch(BASE + path, {
      method: o.method || "GET", headers, body, cache: "no-store", credentials: "omit",
    });
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (_) { data = { text }; }
    }
    if (res.status === 401) {
      needToken();
      throw new HttpError(401, data);
    }
    if (!res.ok) throw new HttpError(res.status, data);
    return data;
  }

  // ---- token --------------------------------------------------------------

  function takeFragmentToken() {
    if (!location.hash || location.hash.length < 2) return;
    const params = new URLSearchParams(location.hash.slice(1));
    const t = params.get("token");
    if (!t) return;
    sessionStorage.setItem(TOKEN_KEY, t);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
  }

  function needToken() {
    stopLive();
    const panel = $("token-panel");
    if (!panel.hidden) return;
    $("token-error").textContent = state.token ? "The API refused that token." : "";
    panel.hidden = false;
    $("app").hidden = true;
    $("forget").hidden = true;
    setLiveLabel("signed out");
    $("token-input").focus();
  }

  function useToken(t) {
    state.token = t;
    sessionStorage.setItem(TOKEN_KEY, t);
    $("token-panel").hidden = true;
    $("app").hidden = false;
    $("forget").hidden = false;
    boot();
  }

  // ---- grid ---------------------------------------------------------------

  async function loadGrid() {
    const t0 = performance.now();
    // The first load asks without uptime (a third of the server's work for
    // 1,000 targets) so the grid shows at once; uptime fills in right after.
    const first = state.grid === null;
    const g = await api(first ? "health/grid?uptime=off" : "health/grid");
    const t1 = performance.now();
    state.grid = g;
    if (first) setTimeout(() => { loadGrid().catch(() => {}); }, 0);
    renderCounts(g);
    renderGrid();
    perf.gridFetchMs = t1 - t0;
    perf.gridRenderMs = performance.now() - t1;
    if (perf.gridRenderedAt === null) perf.gridRenderedAt = performance.now();
    if (perf.gridPaintedAt === null) {
      // two frames: the second callback runs after the grid's first paint
      requestAnimationFrame(() => requestAnimationFrame(() => {
        perf.gridPaintedAt = performance.now();
        document.documentElement.dataset.gridPainted = "1";
      }));
    }
  }

  function renderCounts(g) {
    const c = g.counts || {};
    const box = $("counts");
    const frag = document.createDocumentFragment();
    frag.appendChild(el("span", "count b-unknown", (c.total || 0) + " targets"));
    for (const s of ["healthy", "degraded", "down", "unknown"]) {
      if (s === "unknown" && !c.unknown) continue;
      frag.appendChild(el("span", "count b-" + s, (c[s] || 0) + " " + s));
    }
    box.replaceChildren(frag);
    const ready = $("ready");
    ready.hidden = false;
    ready.textContent = g.ready ? "ready" : "not ready";
    ready.className = "pill " + (g.ready ? "ok" : "warn");
    ready.title = g.ready ? "The startup checklist passed" : "The startup checklist has not passed";
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  }

  function matches(t, f) {
    return (t.name + " " + t.id + " " + t.label + " " + t.status + " " + t.cause + " " + t.tenant)
      .toLowerCase().includes(f);
  }

  function renderGrid() {
    const g = state.grid;
    if (!g) return;
    const grid = $("grid");
    const focused = document.activeElement && grid.contains(document.activeElement)
      ? document.activeElement.dataset.id : null;
    const f = state.filter.trim().toLowerCase();
    const rows = f ? g.targets.filter((t) => matches(t, f)) : g.targets;
    const now = Date.now();
    const frag = document.createDocumentFragment();
    for (const t of rows) frag.appendChild(cell(t, now));
    grid.replaceChildren(frag);
    $("grid-empty").hidden = rows.length > 0;
    $("grid-empty").textContent = g.targets.length ? "No target matches the filter." : "No targets.";
    $("grid-error").textContent = "";
    perf.gridRenders += 1;
    if (focused) {
      const again = grid.querySelector('button[data-id="' + CSS.escape(focused) + '"]');
      if (again) again.focus();
    }
  }

  // One cell's skeleton, cloned per target (cheaper than building each
  // element anew when there are 1,000 of them).
  let cellTemplate = null;
  function cellSkeleton() {
    if (!cellTemplate) {
      const li = el("li");
      const b = el("button", "cell");
      b.type = "button";
      b.appendChild(el("span", "name"));
      const line = el("span", "line");
      line.appendChild(el("span", "badge"));
      b.appendChild(line);
      b.appendChild(el("span", "metrics"));
      li.appendChild(b);
      cellTemplate = li;
    }
    return cellTemplate.cloneNode(true);
  }

  function cell(t, now) {
    const li = cellSkeleton();
    const b = li.firstChild;
    const st = statusClass(t.status);
    b.className = "cell st-" + st;
    b.dataset.id = t.id;
    b.setAttribute("aria-pressed", state.selected === t.id ? "true" : "false");
    const name = b.firstChild;
    name.textContent = t.name;
    name.title = t.name + " (" + t.id + ")";
    const line = name.nextSibling;
    const badgeEl = line.firstChild;
    badgeEl.className = "badge b-" + st;
    badgeEl.textContent = t.label;
    if (t.cause && t.cause !== "none" && t.cause !== t.label) line.appendChild(el("span", "cause", words(t.cause)));
    if (t.alerts > 0) line.appendChild(el("span", "alerts", t.alerts + (t.alerts === 1 ? " alert" : " alerts")));
    const up = typeof t.uptime_percent === "number" ? pct(t.uptime_percent) : "—";
    line.nextSibling.textContent = "up " + up + " · " + ms(t.latency_ms) + " · " + ago(t.last_check_at, now);
    return li;
  }

  function gridKeys(e) {
    const cur = e.target.closest("button.cell");
    if (!cur) return;
    const li = cur.parentElement;
    let next = null;
    if (e.key === "ArrowRight") next = li.nextElementSibling;
    else if (e.key === "ArrowLeft") next = li.previousElementSibling;
    else if (e.key === "Home") next = li.parentElement.firstElementChild;
    else if (e.key === "End") next = li.parentElement.lastElementChild;
    else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      const cols = Math.max(1, Math.round(li.parentElement.clientWidth / li.offsetWidth));
      next = li;
      for (let i = 0; i < cols && next; i++) {
        next = e.key === "ArrowDown" ? next.nextElementSibling : next.previousElementSibling;
      }
    } else return;
    if (next && next.firstElementChild) {
      e.preventDefault();
      next.firstElementChild.focus();
    }
  }

  // ---- detail -------------------------------------------------------------

  function select(id) {
    state.selected = id;
    for (const b of $("grid").querySelectorAll("button.cell[aria-pressed=true]")) b.setAttribute("aria-pressed", "false");
    const b = $("grid").querySelector('button[data-id="' + CSS.escape(id) + '"]');
    if (b) b.setAttribute("aria-pressed", "true");
    $("detail").hidden = false;
    $("action-out").hidden = true;
    $("segment-info").textContent = "";
    loadDetail(id);
  }

  function closeDetail() {
    const id = state.selected;
    state.selected = null;
    $("detail").hidden = true;
    if (id) {
      const b = $("grid").querySelector('button[data-id="' + CSS.escape(id) + '"]');
      if (b) { b.setAttribute("aria-pressed", "false"); b.focus(); }
    }
  }

  async function loadDetail(id) {
    const p = "targets/" + enc(id);
    const [health, week, month, results] = await Promise.allSettled([
      api(p + "/health"),
      api(p + "/uptime?window=7d"),
      api(p + "/uptime?window=30d"),
      api(p + "/results?hours=24"),
    ]);
    if (state.selected !== id) return;
    if (health.status === "fulfilled") renderHealth(health.value);
    else {
      $("detail-title").textContent = id;
      $("detail-sub").textContent = "Could not load: " + health.reason.message;
    }
    renderUptime([["7 d", week], ["30 d", month]]);
    renderResults(results);
  }

  function renderHealth(h) {
    $("detail-title").textContent = h.name;
    const b = $("detail-badge");
    b.className = "badge b-" + statusClass(h.status);
    b.textContent = h.health_status;
    const cause = h.cause && h.cause !== "none" ? " · cause " + h.cause : "";
    $("detail-sub").textContent = h.target_id + " · tenant " + h.tenant + words(cause) + " · last seen " + ago(h.last_seen_at);

    const alerts = $("detail-alerts");
    const list = h.active_alerts || [];
    alerts.replaceChildren(...(list.length ? list.map((a) => alertItem(a)) : [el("li", "muted", "None.")]));

    const rows = (h.checks || []).map((c) => {
      const tr = el("tr");
      tr.appendChild(el("td", null, c.id + (c.enabled ? "" : " (off)") + " · " + c.kind));
      const td = el("td");
      td.appendChild(badge(c.status, c.status));
      if (c.flapping) td.appendChild(el("span", "muted", " flapping"));
      tr.appendChild(td);
      tr.appendChild(el("td", null, typeof c.breaker === "string" ? c.breaker : JSON.stringify(c.breaker)));
      tr.appendChild(el("td", null, c.consecutive_failures + " / " + c.total_failures));
      tr.appendChild(el("td", null, ms(c.last_latency_ms)));
      tr.appendChild(el("td", null, ago(c.last_check_at)));
      return tr;
    });
    $("detail-checks").replaceChildren(...rows);

    const score = $("detail-score");
    const kv = [["score", h.health_score + " / 100"]];
    for (const [k, v] of Object.entries(h.score_breakdown || {})) kv.push([k.replace(/_/g, " "), String(v)]);
    fillKv(score, kv);

    const lc = h.lifecycle || {};
    fillKv($("detail-lifecycle"), [
      ["state", lc.state],
      ["since", when(lc.state_changed_at)],
      ["boots", lc.boot_count],
      ["install attempts", lc.install_attempts],
      ["ip", lc.ip_address || "—"],
      ["heal attempts", h.heal && typeof h.heal.attempts === "number" ? h.heal.attempts : "—"],
    ]);
  }

  function fillKv(dl, pairs) {
    const frag = document.createDocumentFragment();
    for (const [k, v] of pairs) {
      frag.appendChild(el("dt", null, k));
      frag.appendChild(el("dd", null, v === undefined || v === null ? "—" : v));
    }
    dl.replaceChildren(frag);
  }

  function renderUptime(windows) {
    const box = $("uptime");
    const frag = document.createDocumentFragment();
    for (const [label, r] of windows) {
      const row = el("div", "timeline-row");
      row.appendChild(el("span", "muted", label));
      const bar = el("div", "timeline");
      bar.setAttribute("role", "group");
      bar.setAttribute("aria-label", label + " uptime timeline");
      let percent = "—";
      if (r.status === "fulfilled") {
        const rep = r.value.report || {};
        percent = pct(rep.percent);
        const from = Date.parse(rep.from);
        const to = Date.parse(rep.to);
        const span = to - from;
        for (const s of r.value.timeline || []) {
          const a = Date.parse(s.start);
          const z = Date.parse(s.end);
          if (!(span > 0) || Number.isNaN(a) || Number.isNaN(z)) continue;
          const st = statusClass(s.status);
          const outage = st === "down" || st === "degraded";
          const seg = el(outage ? "button" : "span", "seg s-" + st + (s.in_maintenance ? " maint" : ""));
          if (outage) seg.type = "button";
          // at least 0.5 % wide, and kept inside the bar
          const w = Math.max(0.5, (Math.min(z, to) - Math.max(a, from)) / span * 100);
          seg.style.width = w + "%";
          seg.style.left = Math.min(100 - w, Math.max(0, a - from) / span * 100) + "%";
          const text = s.status + (s.in_maintenance ? " (maintenance)" : "") + ": " + when(s.start) +
            " → " + when(s.end) + " (" + dur((z - a) / 1000) + ")";
          seg.title = text;
          if (outage) {
            seg.setAttribute("aria-label", text);
            seg.addEventListener("click", () => { $("segment-info").textContent = text; });
          }
          bar.appendChild(seg);
        }
      } else {
        bar.title = "Could not load: " + r.reason.message;
      }
      row.appendChild(bar);
      const p = el("span", "pct", percent);
      p.title = label + " uptime";
      row.appendChild(p);
      frag.appendChild(row);
    }
    box.replaceChildren(frag);
  }

  function renderResults(r) {
    const body = $("detail-results");
    if (r.status !== "fulfilled") {
      $("detail-results-sum").textContent = "Could not load: " + r.reason.message;
      body.replaceChildren();
      return;
    }
    const h = r.value;
    $("detail-results-sum").textContent = h.total_checks + " checks, uptime " + pct(h.uptime_percentage) +
      ", average latency " + ms(h.avg_latency_ms);
    const rows = (h.results || []).slice(0, 25).map((x) => {
      const o = x.observation || {};
      const tr = el("tr");
      tr.appendChild(el("td", null, when(o.at)));
      tr.appendChild(el("td", null, x.key && x.key.check));
      const td = el("td");
      td.appendChild(badge(words(o.outcome), outcomeStatus(o.outcome)));
      tr.appendChild(td);
      tr.appendChild(el("td", null, ms(o.latency_ms)));
      tr.appendChild(el("td", "msg", o.message || ""));
      return tr;
    });
    body.replaceChildren(...rows);
  }

  // ---- quick actions --------------------------------------------------------

  function showOut(text) {
    const out = $("action-out");
    out.hidden = false;
    out.textContent = text;
    out.scrollTop = out.scrollHeight;
  }

  async function runAction(action) {
    const id = state.selected;
    if (!id) return;
    if (action === "restart") {
      openConfirm(id);
      return;
    }
    showOut(action + "…");
    try {
      if (action === "logs") {
        const r = await api("targets/" + enc(id) + "/logs?lines=100");
        showOut((r.lines || []).join("\n") || "(no log lines)");
      } else {
        const r = await api("targets/" + enc(id) + "/actions/" + enc(action), { method: "POST", body: {} });
        showOut(JSON.stringify(r, null, 2));
        refreshSoon({ grid: true, detail: true });
      }
    } catch (e) {
      showOut(action + " failed: " + e.message);
    }
  }

  function openConfirm(id) {
    state.restartFor = id;
    $("confirm-id").textContent = id;
    $("confirm-input").value = "";
    $("confirm-go").disabled = true;
    $("confirm").showModal();
    $("confirm-input").focus();
  }

  async function confirmRestart() {
    const id = state.restartFor;
    if (!id || $("confirm-input").value !== id) return;
    $("confirm").close();
    showOut("restart…");
    try {
      const r = await api("targets/" + enc(id) + "/actions/restart", { method: "POST", body: { confirm: id } });
      showOut(JSON.stringify(r, null, 2));
      refreshSoon({ grid: true, detail: true, alerts: true });
    } catch (e) {
      showOut("restart failed: " + e.message);
    }
  }

  // ---- alerts -------------------------------------------------------------

  async function loadAlerts() {
    let items;
    if (state.alertsAll) {
      items = (await api("health/alerts?limit=100")).data;
    } else {
      const [a, k] = await Promise.all([
        api("health/alerts?status=active&limit=100"),
        api("health/alerts?status=acknowledged&limit=100"),
      ]);
      items = a.data.concat(k.data);
    }
    items.sort((x, y) => (y.created_at || "").localeCompare(x.created_at || ""));
    const rows = items.map((a) => {
      const tr = el("tr", a.status);
      tr.dataset.alert = a.id;
      const sev = el("td");
      sev.appendChild(badge(a.severity, a.severity === "critical" ? "down" : "degraded"));
      tr.appendChild(sev);
      const tt = el("td");
      const link = el("button", "quiet", a.target_name || a.target);
      link.type = "button";
      link.addEventListener("click", () => select(a.target));
      tt.appendChild(link);
      tr.appendChild(tt);
      tr.appendChild(el("td", null, a.kind));
      tr.appendChild(el("td", "msg", a.message));
      tr.appendChild(el("td", "state", a.status === "acknowledged" && a.acknowledged_by
        ? "acknowledged by " + a.acknowledged_by : a.status));
      const since = el("td", null, ago(a.created_at));
      since.title = when(a.created_at);
      tr.appendChild(since);
      const act = el("td");
      if (a.status === "active") act.appendChild(ackButton(a));
      tr.appendChild(act);
      return tr;
    });
    $("alerts").replaceChildren(...rows);
    $("alerts-empty").hidden = rows.length > 0;
  }

  function ackButton(a) {
    const b = el("button", "ack", "Acknowledge");
    b.type = "button";
    b.setAttribute("aria-label", "Acknowledge " + a.kind + " alert on " + (a.target_name || a.target));
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await api("health/alerts/" + enc(a.id) + "/acknowledge", { method: "POST", body: {} });
      } catch (e) {
        b.disabled = false;
        b.title = "Failed: " + e.message;
      }
      refreshSoon({ alerts: true, grid: true, detail: true }, 0);
    });
    return b;
  }

  function alertItem(a) {
    const li = el("li");
    li.appendChild(badge(a.severity, a.severity === "critical" ? "down" : "degraded"));
    li.appendChild(el("span", "grow", a.kind + ": " + a.message));
    li.appendChild(el("span", "muted", a.status + " · " + ago(a.created_at)));
    if (a.status === "active") li.appendChild(ackButton(a));
    return li;
  }

  // ---- checklist ------------------------------------------------------------

  async function loadChecklist() {
    const list = $("checklist");
    let r;
    try {
      r = await api("checklist");
    } catch (e) {
      if (e.status === 403) {
        list.replaceChildren();
        $("checklist-note").textContent = "An admin token is needed to see the checklist.";
        return;
      }
      throw e;
    }
    const items = r.items || [];
    list.replaceChildren(...items.map((i) => {
      const li = el("li", "check-" + i.status + (i.required ? " required" : ""));
      const st = { passed: "healthy", failed: "down", overridden: "degraded" }[i.status] || "unknown";
      li.appendChild(badge(i.status === "pending" ? "checking…" : i.status, st));
      li.appendChild(el("span", "grow", i.name));
      li.appendChild(el("span", "muted", i.required ? "required" : "optional"));
      if (i.error) li.appendChild(el("span", "error", i.error));
      if (i.overridden_by) li.appendChild(el("span", "muted", "overridden by " + i.overridden_by));
      if (i.status === "failed") {
        const b = el("button", null, "Override");
        b.type = "button";
        b.setAttribute("aria-label", "Override failed check " + i.name);
        b.addEventListener("click", async () => {
          b.disabled = true;
          try {
            await api("checklist/" + enc(i.name) + "/override", { method: "POST", body: {} });
          } catch (e) {
            b.disabled = false;
            b.title = "Failed: " + e.message;
          }
          refreshSoon({ checklist: true, grid: true }, 0);
        });
        li.appendChild(b);
      }
      return li;
    }));
    $("checklist-note").textContent = items.length
      ? (r.ready ? "All required checks passed: ready." : "Not ready: a required check has not passed.")
      : "No startup checks configured.";
  }

  // ---- refresh and live updates ---------------------------------------------

  // Coalesces refreshes: events arrive in bursts, and a grid of 1,000
  // targets is not fetched more than once every 1.5 s on their account.
  function refreshSoon(what, delay) {
    for (const k of Object.keys(what)) if (what[k]) state.pending[k] = true;
    if (state.debounce) return;
    const wanted = delay === undefined ? 400 : delay;
    const gap = state.lastRun + 1500 - performance.now();
    state.debounce = setTimeout(runPending, delay === 0 ? 0 : Math.max(wanted, gap));
  }

  async function runPending() {
    state.debounce = null;
    state.lastRun = performance.now();
    const p = state.pending;
    state.pending = { grid: false, alerts: false, detail: false, checklist: false };
    const jobs = [];
    if (p.grid) jobs.push(loadGrid().catch(showGridError));
    if (p.alerts) jobs.push(loadAlerts().catch(() => {}));
    if (p.checklist) jobs.push(loadChecklist().catch(() => {}));
    if (p.detail && state.selected) jobs.push(loadDetail(state.selected).catch(() => {}));
    await Promise.all(jobs);
  }

  function showGridError(e) {
    if (e && e.status !== 401) $("grid-error").textContent = "Could not load targets: " + e.message;
  }

  async function refreshAll() {
    try {
      await loadGrid();
    } catch (e) {
      if (e.status === 401) return false;
      showGridError(e);
    }
    await Promise.all([
      loadAlerts().catch(() => {}),
      loadChecklist().catch(() => {}),
      state.selected ? loadDetail(state.selected).catch(() => {}) : null,
    ]);
    return true;
  }

  function setLiveLabel(text, ok) {
    const l = $("live");
    l.textContent = text;
    l.className = "pill" + (ok ? " ok" : "");
  }

  function setLive(on) {
    state.live = on;
    setLiveLabel(on ? "live" : "polling every 30 s", on);
  }

  function stopLive() {
    if (state.es) state.es.close();
    state.es = null;
    if (state.reconnectTimer) clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    state.live = false;
  }

  function scheduleReconnect() {
    if (state.reconnectTimer || !$("token-panel").hidden) return;
    const wait = Math.min(30000, 1000 * 2 ** Math.min(state.retry, 5));
    state.retry += 1;
    state.reconnectTimer = setTimeout(() => { state.reconnectTimer = null; connectLive(); }, wait);
  }

  async function connectLive() {
    stopLive();
    if (typeof EventSource === "undefined") { setLive(false); return; }
    let url = BASE + "events";
    if (state.token) {
      try {
        const t = await api("events/ticket", { method: "POST" });
        url += "?ticket=" + enc(t.ticket);
      } catch (e) {
        setLive(false);
        if (e.status !== 401) scheduleReconnect();
        return;
      }
    }
    const es = new EventSource(url);
    state.es = es;
    es.onopen = () => { state.retry = 0; setLive(true); refreshSoon({ grid: true, alerts: true }); };
    es.onerror = () => {
      setLive(false);
      // a ticket is single-use: reconnect with a fresh one ourselves
      if (state.token || es.readyState === EventSource.CLOSED) {
        es.close();
        if (state.es === es) state.es = null;
        scheduleReconnect();
      }
    };
    for (const name of EVENT_NAMES) es.addEventListener(name, onEvent);
  }

  function onEvent(e) {
    let data = null;
    try { data = JSON.parse(e.data); } catch (_) { /* not JSON: refresh anyway */ }
    const mine = data && state.selected && JSON.stringify(data).includes(JSON.stringify(state.selected));
    if (e.type === "health:lagged" || e.type === "health:summary_updated") {
      refreshSoon({ grid: true, alerts: true, detail: true });
    } else if (e.type.startsWith("health:alert_")) {
      refreshSoon({ alerts: true, grid: true, detail: mine });
    } else {
      refreshSoon({ grid: true, detail: mine });
    }
  }

  async function boot() {
    const ok = await refreshAll();
    if (!ok) return;
    $("forget").hidden = !state.token;
    connectLive();
    if (state.refreshTimer) clearInterval(state.refreshTimer);
    // the fallback: a full refresh every 30 s whatever the stream does
    state.refreshTimer = setInterval(() => {
      if ($("token-panel").hidden) refreshSoon({ grid: true, alerts: true, checklist: true, detail: true }, 0);
    }, REFRESH_MS);
  }

  // ---- wiring ---------------------------------------------------------------

  function wire() {
    $("token-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const t = $("token-input").value.trim();
      $("token-input").value = "";
      if (t) useToken(t);
    });
    $("forget").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      state.token = null;
      needToken();
    });
    $("grid").addEventListener("click", (e) => {
      const b = e.target.closest("button.cell");
      if (b) select(b.dataset.id);
    });
    $("grid").addEventListener("keydown", gridKeys);
    $("filter").addEventListener("input", (e) => { state.filter = e.target.value; renderGrid(); });
    $("detail-close").addEventListener("click", closeDetail);
    $("detail").addEventListener("keydown", (e) => { if (e.key === "Escape") closeDetail(); });
    for (const b of document.querySelectorAll(".actions button[data-action]")) {
      b.addEventListener("click", () => runAction(b.dataset.action));
    }
    $("confirm-input").addEventListener("input", (e) => {
      $("confirm-go").disabled = e.target.value !== state.restartFor;
    });
    $("confirm-input").addEventListener("keydown", (e) => {
      if (e.key === "Enter") { e.preventDefault(); confirmRestart(); }
    });
    $("confirm-go").addEventListener("click", confirmRestart);
    $("confirm-cancel").addEventListener("click", () => $("confirm").close());
    $("alerts-all").addEventListener("change", (e) => {
      state.alertsAll = e.target.checked;
      loadAlerts().catch(() => {});
    });
  }

  takeFragmentToken();
  state.token = sessionStorage.getItem(TOKEN_KEY);
  boot();
  wire();
  // leaving the page closes the stream (browsers allow few connections per
  // host, and a page kept in the back-forward cache would hold one)
  window.addEventListener("pagehide", stopLive);
  window.addEventListener("pageshow", (e) => { if (e.persisted) boot(); });
})();
