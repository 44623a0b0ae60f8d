// The Sluice web console: a single-page app over the public API (no build step, no framework).
// Signed in with an API token, exchanged at once for a session cookie this script cannot read
// (HttpOnly, SameSite=Strict; the token itself is not kept), with a CSRF token held in memory
// and sent on every change; or opened from a signed link of one deployment (read-only, until the
// link expires). Every call goes to the same origin; the server's CSP allows no inline script or
// style.

const ROLES = ["viewer", "deployer", "approver", "admin"];
// The role each operator command needs (the API decides; this only disables the buttons).
const VERBS = [
  { verb: "approve", role: "approver", label: "Approve" },
  { verb: "promote", role: "deployer", label: "Promote" },
  { verb: "pause", role: "deployer", label: "Pause" },
  { verb: "resume", role: "deployer", label: "Resume" },
  { verb: "abort", role: "deployer", label: "Abort", danger: true },
  { verb: "rollback", role: "approver", label: "Roll back", danger: true },
];
const REFRESH_MS = 3000;
const LINK_KEY = "sluice.link";

const main = document.getElementById("main");
let session = null; // {kind: "token", name, role, csrf} | {kind: "link", path, expires}
let timer = null;
let stream = null; // the deployment page's EventSource (GET /v1/events)

// ---- small DOM helpers (text only: nothing from the API is parsed as HTML)
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const status = (s) => h("span", { class: `status ${s ?? ""}`, dataset: { status: s ?? "" } }, s ?? "—");
const link = (href, text) => h("a", { href, "data-nav": true }, text);
const when = (t) => (t ? new Date(t).toLocaleString() : "—");
function table(headers, rows, attrs = {}) {
  return h("table", attrs, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, "nothing yet"))));
}
function message(kind, text) {
  return h("div", { class: `message ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

// ---- the API
class ApiError extends Error {
  constructor(status, code, text) {
    super(text);
    this.status = status;
    this.code = code;
  }
}

// `token`: only for signing in (POST /v1/sessions); afterwards the session cookie authenticates.
async function api(path, { method = "GET", body, accept, token } = {}) {
  const headers = { Accept: accept ?? "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (session?.kind === "token" && method !== "GET") headers["X-CSRF-Token"] = session.csrf;
  if (session?.kind === "link") headers["X-Sluice-Link"] = sessionStorage.getItem(LINK_KEY);
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: session?.kind === "link" ? "omit" : "same-origin", cache: "no-store" });
  const type = res.headers.get("Content-Type") ?? "";
  if (!res.ok) {
    let code = "http_" + res.status;
    let text = `${res.status} ${res.statusText}`;
    if (type.startsWith("application/json")) {
      const e = (await res.json()).error ?? {};
      code = e.code ?? code;
      text = e.message ?? text;
    }
    if (res.status === 401 && session?.kind === "token" && !token) {
      // The session ended under the page (idle, revoked token, signed out elsewhere).
      session = null;
      clearInterval(timer);
      document.getElementById("who").textContent = "";
      render(loginPage(`Signed out: ${text}`));
    }
    throw new ApiError(res.status, code, text);
  }
  if (type.startsWith("application/json")) return res.json();
  if (type.startsWith("image/")) return res.blob();
  return res.text();
}

// The caller's role in an environment: its grant there, else its global role (the API decides;
// this only hides the buttons).
const roleIn = (env) => (env && session?.environments?.[env]) || session?.role;
const can = (role, env) => session?.kind === "token" && ROLES.indexOf(roleIn(env)) >= ROLES.indexOf(role);

// The token's roles per environment (GET /v1/whoami), once signed in.
async function loadGrants() {
  try {
    const me = await api("/v1/whoami");
    if (session?.kind === "token") session.environments = me.environments ?? {};
  } catch {
    // the global role alone; the API still decides
  }
}

// ---- sign-in
async function signIn(token) {
  session = null;
  try {
    const me = await api("/v1/sessions", { method: "POST", token });
    session = { kind: "token", name: me.name, role: me.role, csrf: me.csrf_token };
    sessionStorage.removeItem(LINK_KEY);
    await loadGrants();
    return null;
  } catch (e) {
    session = null;
    return e.status === 401 || e.status === 403 ? `Sign-in refused: ${e.message}` : `Sign-in failed: ${e.message}`;
  }
}

// The session cookie of an earlier sign-in, if it is still good: who, and the CSRF token.
async function resumeSession() {
  try {
    const me = await api("/v1/sessions/current");
    session = { kind: "token", name: me.name, role: me.role, csrf: me.csrf_token };
    await loadGrants();
    return true;
  } catch {
    session = null;
    return false;
  }
}

function loginPage(error) {
  const input = h("input", { type: "password", id: "token", name: "token", autocomplete: "off",
    placeholder: "slc_…", required: true });
  const form = h("form", { class: "card login", id: "login",
    onsubmit: async (ev) => {
      ev.preventDefault();
      const err = await signIn(input.value.trim());
      if (err) return render(loginPage(err));
      route();
    } },
  h("h1", {}, "Sign in to Sluice"),
  h("label", { for: "token" }, "API token"), input,
  h("p", { class: "muted" }, "The token is sent once, to this server, for a session cookie; it is not stored in the browser. " +
    "Ask an admin for one: sluice token create NAME --role viewer."),
  error ? message("error", error) : null,
  h("button", { class: "primary", type: "submit" }, "Sign in"));
  return form;
}

// ---- pages
function render(...nodes) {
  main.replaceChildren(...nodes);
}
// A timed pause step's countdown to the planner's resumes_at; every [data-resumes-at] element
// ticks once a second on its own, between the page's refreshes.
function countdownText(at) {
  const left = Math.ceil((Date.parse(at) - Date.now()) / 1000);
  if (!(left > 0)) return "resumes now";
  const m = Math.floor(left / 60), s = left % 60;
  return `resumes in ${m ? `${m}m` : ""}${s}s`;
}
setInterval(() => {
  for (const el of document.querySelectorAll("[data-resumes-at]")) el.textContent = countdownText(el.dataset.resumesAt);
}, 1000);
function pauseFact(d) {
  if (!d.pause_reason) return "—";
  if (!d.resumes_at) return d.pause_reason;
  return [`${d.pause_reason} · `, h("span", { id: "countdown", title: `at ${new Date(d.resumes_at).toLocaleTimeString()}`,
    dataset: { resumesAt: d.resumes_at } }, countdownText(d.resumes_at))];
}

function every(fn) {
  clearInterval(timer);
  timer = setInterval(() => { if (!document.hidden) fn(); }, REFRESH_MS);
  return fn();
}

// A deployment release-intake holds until its window opens (listed first, without batches):
// until when, or why it still waits; its message on hover.
function waitingNote(d) {
  if (d.status !== "waiting" || !d.waiting) return null;
  return h("span", { class: "muted", title: d.waiting.message ?? "" },
    d.waiting.next_open ? ` until ${when(d.waiting.next_open)}` : ` (${d.waiting.code})`);
}

// A date input's day as the RFC 3339 time its local midnight is; anything else as it is (the API
// names the parameter it cannot read).
function dayStart(day) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return day;
  const t = new Date(`${day}T00:00:00`);
  return Number.isNaN(t.getTime()) ? day : t.toISOString();
}

async function deploymentsPage(params) {
  const form = h("form", { class: "filters", id: "filters" },
    h("input", { name: "app", placeholder: "app", value: params.get("app") ?? "" }),
    h("input", { name: "env", placeholder: "environment", value: params.get("env") ?? "" }),
    h("select", { name: "status" }, ["", "waiting", "pending", "running", "paused", "succeeded", "failed",
      "rolling_back", "rolled_back", "aborted"].map((s) =>
      h("option", { value: s, selected: s === (params.get("status") ?? "") }, s || "any status"))),
    h("input", { type: "date", name: "since", title: "created on or after this day", "aria-label": "created on or after",
      value: params.get("since") ?? "" }),
    h("input", { type: "date", name: "until", title: "created before this day", "aria-label": "created before",
      value: params.get("until") ?? "" }),
    h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams([...new FormData(form)].filter(([, v]) => v));
    navigate(`/console/deployments${q.size ? "?" + q : ""}`);
  });
  const live = h("span", { class: "live", id: "live" });
  const holder = h("div");
  render(h("h1", {}, "Deployments", live), form, holder);
  const filters = new URLSearchParams();
  for (const k of ["app", "env", "status", "since", "until"]) if (params.get(k)) filters.set(k, params.get(k));
  // Pages: the API's next_cursor gives the older ones (the filters kept); the first page is the
  // newest, and the only one with the deployments waiting for their window. The date inputs'
  // days (YYYY-MM-DD) go to the API as the start of that day in the browser's time zone.
  const q = new URLSearchParams(filters);
  for (const k of ["since", "until"]) if (q.has(k)) q.set(k, dayStart(q.get(k)));
  if (params.get("cursor")) q.set("cursor", params.get("cursor"));
  await every(async () => {
    try {
      const body = await api(`/v1/deployments?${q}`);
      const pager = pagerLinks("/console/deployments", filters, q.has("cursor"), body.next_cursor);
      const rows = (body.deployments ?? []).map((d) => h("tr", { dataset: { id: d.id } },
        h("td", {}, link(`/console/deployments/${encodeURIComponent(d.id)}`, d.id.slice(0, 8))),
        h("td", {}, link(`/console/releases?app=${encodeURIComponent(d.app)}`, d.app)),
        h("td", {}, d.env), h("td", {}, d.version), h("td", {}, status(d.status), waitingNote(d)),
        h("td", {}, d.batch_count ? `${Math.min(d.current_batch + 1, d.batch_count)} / ${d.batch_count}` : "—"),
        h("td", {}, d.requested_by || "auto"), h("td", {}, when(d.created_at))));
      holder.replaceChildren(table(["id", "app", "env", "version", "status", "batch", "by", "created"], rows,
        { id: "deployments" }), pager);
      live.textContent = `live · updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      holder.replaceChildren(message("error", e.message));
    }
  });
}

function actionBar(d, onDone) {
  const out = h("div", { id: "action-result" });
  // Only the actions the caller's role in the deployment's environment allows are shown; the rest
  // are named with the role they need.
  const allowed = VERBS.filter(({ role }) => can(role, d.env));
  const denied = VERBS.filter(({ role }) => !can(role, d.env));
  const buttons = allowed.map(({ verb, label, danger }) =>
    h("button", { class: danger ? "danger" : "", id: `do-${verb}`, title: `${label} ${d.app} ${d.version}`,
      onclick: async () => {
        if (!confirm(`${label} deployment ${d.id.slice(0, 8)} of ${d.app} to version ${d.version} in ${d.env}?`)) return;
        try {
          const r = await api(`/v1/deployments/${encodeURIComponent(d.id)}:${verb}`, { method: "POST",
            body: { reason: `from the console by ${session.name}` } });
          out.replaceChildren(message("ok", `${label}: accepted ${r.command_id ? `(command ${r.command_id})` : `(${r.status})`}${r.warning ? " — " + r.warning : ""}`));
          onDone();
        } catch (e) {
          out.replaceChildren(message("error", `${label} refused: ${e.message}`));
        }
      } }, label));
  const note = session?.kind === "link" ? "Read-only: opened from a signed link. Sign in with an API token to act."
    : denied.length === 0 ? null
    : `${denied.map((v) => v.label).join(", ")}: ${[...new Set(denied.map((v) => v.role))].map((r) => `needs the ${r} role`).join(" or ")} (you are ${roleIn(d.env)}${session?.environments?.[d.env] ? ` in ${d.env}` : ""}).`;
  return h("div", {}, h("div", { class: "actions", id: "actions" }, buttons,
    note ? h("p", { class: "muted", id: "actions-note" }, note) : null), out);
}

function gatesText(b) {
  return (b.gates ?? []).map((g) => `${g.kind}${g.duration_ms ? " " + g.duration_ms / 1000 + "s" : ""}${g.passed ? " ✓" : ""}`).join(", ");
}

function evidenceText(ev) {
  if (!ev || (typeof ev === "object" && Object.keys(ev).length === 0)) return "";
  if (typeof ev === "string") return ev;
  const parts = [];
  if (ev.rule) parts.push(`rule ${ev.rule}`);
  if (ev.metric) parts.push(ev.metric);
  if (ev.observed !== undefined) parts.push(`observed ${ev.observed}`);
  if (ev.threshold !== undefined) parts.push(`threshold ${ev.comparator ?? ""} ${ev.threshold}`);
  return parts.length ? parts.join(" · ") : JSON.stringify(ev);
}

// ---- Analysis charts (the incident chart's rules: the window of the measurements, the canary
// instances and the value judged as separate series, the threshold, the verdict and its reason
// above the plot where no label can collide with a line).
const SVG_NS = "http://www.w3.org/2000/svg";
const VERDICT_COLOUR = { Successful: "#137a3a", Failed: "#b42318", Inconclusive: "#b54708", Error: "#b54708" };
const INSTANCE_COLOURS = ["#7a9cc6", "#9ab8a0", "#c6a27a", "#a58bc2", "#8cb7c2", "#c28ba9"];
const MAX_CHARTED_ANALYSES = 6;

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

const shortNumber = (v) => (Math.abs(v) >= 1000 || (v !== 0 && Math.abs(v) < 0.001) ? v.toExponential(1) : String(+v.toPrecision(3)));
const clock = (ms) => new Date(ms).toISOString().slice(11, 19);

// The measurements of one rule of one analysis as a chart: x = time, y = the metric. Each canary
// instance a thin line, the value the rule judged a bold line with a dot per measurement in its
// verdict's colour, the threshold dashed and labelled at the left margin.
function ruleChart(analysis, rule, ms) {
  const W = 560, H = 210, L = 62, R = 14, T = 48, B = 26;
  const metric = ms.find((m) => m.metric)?.metric ?? "";
  const points = ms.map((m) => ({ t: Date.parse(m.taken_at), v: m.observed, verdict: m.verdict, threshold: m.threshold }));
  const instances = new Map();
  for (const m of ms) {
    for (const s of m.values?.[metric] ?? []) {
      if (!Number.isFinite(s.value)) continue;
      if (!instances.has(s.instance)) instances.set(s.instance, []);
      instances.get(s.instance).push({ t: Date.parse(m.taken_at), v: s.value });
    }
  }
  const threshold = points.map((p) => p.threshold).filter(Number.isFinite).at(-1);
  const ys = [...points.map((p) => p.v), ...[...instances.values()].flat().map((p) => p.v), threshold].filter(Number.isFinite);
  let lo = Math.min(0, ...ys), hi = Math.max(...ys, lo + 1e-9);
  hi += (hi - lo) * 0.15;
  const ts = points.map((p) => p.t);
  const t0 = Math.min(...ts), t1 = Math.max(...ts, t0 + 1000);
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  const path = (ps) => ps.filter((p) => Number.isFinite(p.v)).map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
  const last = points.at(-1);
  const verdict = analysis.status === "Running" ? (last?.verdict ?? "Running") : analysis.status;
  const comparator = ms.find((m) => m.comparator)?.comparator ?? "";
  const g = svg("svg", { class: "analysis-chart", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img",
    "aria-label": `${rule} ${metric}: ${verdict}`, "data-rule": rule, "data-verdict": verdict });
  g.append(svg("rect", { x: 0, y: 0, width: W, height: H, fill: "#fff" }));
  g.append(svg("text", { x: 8, y: 16, "font-size": 13, "font-weight": 600, fill: "#1d2430" },
    `${rule} · ${metric}${Number.isFinite(threshold) ? ` ${comparator} ${shortNumber(threshold)} fails` : ""}`));
  g.append(svg("text", { x: 8, y: 34, "font-size": 12, fill: VERDICT_COLOUR[verdict] ?? "#175cd3", class: "verdict" },
    `${verdict}${analysis.reason ? ": " + analysis.reason : ""}`));
  for (const v of [lo, (lo + hi) / 2, hi]) {
    g.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#eef0f3" }));
    g.append(svg("text", { x: L - 6, y: y(v) + 4, "font-size": 10, "text-anchor": "end", fill: "#6b7280" }, shortNumber(v)));
  }
  g.append(svg("text", { x: L, y: H - 8, "font-size": 10, fill: "#6b7280" }, clock(t0)));
  g.append(svg("text", { x: W - R, y: H - 8, "font-size": 10, "text-anchor": "end", fill: "#6b7280" }, `${clock(t1)} UTC`));
  g.append(svg("text", { x: (L + W - R) / 2, y: H - 8, "font-size": 10, "text-anchor": "middle", fill: "#6b7280", class: "legend" },
    "bold: judged · thin: each canary · dashed: threshold"));
  [...instances.entries()].forEach(([name, ps], i) => g.append(svg("path", { d: path(ps), fill: "none",
    stroke: INSTANCE_COLOURS[i % INSTANCE_COLOURS.length], "stroke-width": 1.2, class: "instance", "data-instance": name },
  svg("title", {}, `canary ${name}`))));
  if (Number.isFinite(threshold)) {
    g.append(svg("line", { x1: L, x2: W - R, y1: y(threshold), y2: y(threshold), stroke: "#b42318",
      "stroke-dasharray": "5 4", class: "threshold" }, svg("title", {}, `threshold ${comparator} ${threshold}`)));
  }
  g.append(svg("path", { d: path(points), fill: "none", stroke: "#1d2430", "stroke-width": 2, class: "judged" }));
  for (const p of points.filter((q) => Number.isFinite(q.v))) {
    g.append(svg("circle", { cx: x(p.t), cy: y(p.v), r: 3.2, fill: VERDICT_COLOUR[p.verdict] ?? "#175cd3", class: "measurement" },
      svg("title", {}, `${clock(p.t)} ${metric} ${p.v}: ${p.verdict}`)));
  }
  return g;
}

// Each analysis of the deployment (the latest few, oldest first; the list comes newest first),
// its rules charted side by side.
async function analysisCharts(analyses) {
  const latest = analyses.slice(0, MAX_CHARTED_ANALYSES).reverse();
  const details = await Promise.all(latest.map((a) => api(`/v1/analyses/${encodeURIComponent(a.id)}`).catch(() => null)));
  return h("div", { id: "analysis-charts" }, ...details.filter((d) => d && (d.measurements ?? []).length).map((d) => {
    const byRule = new Map();
    for (const m of d.measurements) {
      if (!byRule.has(m.rule)) byRule.set(m.rule, []);
      byRule.get(m.rule).push(m);
    }
    return h("div", { class: "card analysis", dataset: { analysis: d.id } },
      h("h3", {}, `batch ${d.batch_index + 1}${d.bake_watch ? " (bake watch)" : ""} · ${d.template} `, status(d.status.toLowerCase()),
        h("span", { class: "muted" }, ` ${d.version}${d.baseline_version ? " against " + d.baseline_version : ""}`)),
      h("div", { class: "charts" }, ...[...byRule].map(([rule, ms]) => ruleChart(d, rule, ms))));
  }));
}

// The deployment's changes as server-sent events: each one reloads the page's data at once (the
// 3 s refresh still runs for what changes without a transition: pod health, measurements).
function followEvents(id, load) {
  const q = new URLSearchParams({ deployment: id });
  if (session?.kind === "link") q.set("link", sessionStorage.getItem(LINK_KEY));
  stream = new EventSource(`/v1/events?${q}`);
  for (const name of ["transition", "deployment"]) stream.addEventListener(name, () => load());
  stream.addEventListener("end", () => { stream?.close(); load(); });
}
const liveText = () => (stream?.readyState === EventSource.OPEN ? "live (server-sent events)" : "refreshed every 3 s");

// An admin's override of the promotion gate on a deployment: what it overrode and why.
function gateOverrideText(o) {
  return `${o.overridden ? "overrode " + o.overridden : "not needed"}: ${o.reason}`;
}

async function deploymentPage(id) {
  const holder = h("div");
  render(holder);
  let actionsShownFor = null;
  const actions = h("div");
  const load = async () => {
    let d;
    try {
      d = await api(`/v1/deployments/${encodeURIComponent(id)}`);
    } catch (e) {
      holder.replaceChildren(h("h1", {}, "Deployment ", id), message("error", e.message));
      return;
    }
    const [inst, analyses, incidents] = await Promise.all([
      api(`/v1/deployments/${encodeURIComponent(id)}/instances`).catch((e) => ({ error: e })),
      api(`/v1/analyses?deployment_id=${encodeURIComponent(id)}`).catch((e) => ({ error: e })),
      api(`/v1/incidents?deployment_id=${encodeURIComponent(id)}`).catch((e) => ({ error: e })),
    ]);
    const key = `${d.status}/${d.version}`;
    if (actionsShownFor !== key) {
      actions.replaceChildren(actionBar(d, load));
      actionsShownFor = key;
    }
    const batchRows = (d.batches ?? []).map((b) => h("tr", { dataset: { batch: b.index } },
      h("td", {}, b.index + 1), h("td", {}, `${b.weight_percent}%`), h("td", { class: "hosts" }, b.hosts.join(", ")),
      h("td", {}, gatesText(b) || "—"), h("td", {}, b.analysis ? b.analysis_template : "—"), h("td", {}, status(b.status))));
    const instRows = inst.error ? [] : (inst.instances ?? []).map((r) => h("tr", {},
      h("td", {}, r.host), h("td", {}, r.batch_index + 1), h("td", {}, r.version), h("td", {}, status(r.status)),
      h("td", {}, r.health_status), h("td", {}, when(r.deployed_at)), h("td", {}, r.error_message || "")));
    const anaRows = analyses.error ? [] : (analyses.analyses ?? []).map((a) => h("tr", {},
      h("td", {}, a.batch_index + 1), h("td", {}, a.template), h("td", {}, status(a.status)),
      h("td", {}, a.reason || ""), h("td", { class: "evidence" }, evidenceText(a.evidence)), h("td", {}, when(a.finished_at ?? a.started_at))));
    const charts = analyses.error ? null : await analysisCharts(analyses.analyses ?? []);
    const incRows = incidents.error ? [] : (incidents.incidents ?? []).map((i) => h("tr", {},
      h("td", {}, link(`/console/incidents/${encodeURIComponent(i.incident_id)}`, i.incident_id.slice(0, 8))),
      h("td", {}, status(i.status)), h("td", {}, i.summary), h("td", {}, when(i.created_at))));
    holder.replaceChildren(
      h("h1", {}, `${d.app} ${d.version} → ${d.env} `, status(d.status), h("span", { class: "live", id: "live" }, `${liveText()} · ${new Date().toLocaleTimeString()}`)),
      h("div", { class: "card facts", id: "facts" },
        ...[["deployment", d.id], ["phase", d.phase ?? "—"], ["strategy", d.strategy ?? "—"],
          ["batch", d.batch_count ? `${Math.min(d.current_batch + 1, d.batch_count)} of ${d.batch_count}` : "—"],
          ["requested by", d.requested_by || "auto-deploy"], ["spec version", d.spec_version],
          ["stable before", d.stable_version_before || "—"], ["started", when(d.started_at)],
          ["finished", when(d.finished_at)], ["pause reason", pauseFact(d)],
          ["failure", d.failure_reason ? `${d.failure_reason}${d.failure_detail ? ": " + d.failure_detail : ""}` : "—"],
          ...(d.gate_override ? [["gate override", gateOverrideText(d.gate_override)]] : [])]
          .map(([k, v]) => h("div", {}, h("span", {}, k), v))),
      d.waiting && d.status === "waiting" ? h("div", { class: "message waiting", role: "status", id: "waiting" },
        `Waiting: ${d.waiting.message}`, d.waiting.next_open ? ` — starts by itself at ${when(d.waiting.next_open)}` : "") : null,
      actions,
      h("h2", {}, "Batches"),
      table(["#", "weight", "hosts", "gates before", "analysis", "status"], batchRows, { id: "batches" }),
      h("h2", {}, "Hosts and pods"),
      inst.error?.status === 404 ? h("p", { class: "muted", id: "instances" }, "No host or pod has been touched yet.")
        : inst.error ? message("error", inst.error.message) : table(["host", "batch", "version", "status", "health", "deployed", "error"], instRows, { id: "instances" }),
      h("h2", {}, "Analysis"),
      analyses.error ? message("error", analyses.error.message) : table(["batch", "template", "verdict", "reason", "evidence", "at"], anaRows, { id: "analyses" }),
      charts,
      h("h2", {}, "Incidents"),
      incidents.error ? message("error", incidents.error.message) : table(["incident", "status", "summary", "created"], incRows, { id: "incidents" }),
      h("h2", {}, "Timeline"),
      h("ol", { class: "timeline", id: "timeline" }, (d.timeline ?? []).map((t) => h("li", {},
        h("span", { class: "muted" }, when(t.at)), " ", h("strong", {}, t.kind), t.actor ? ` by ${t.actor}` : "",
        t.detail ? ` — ${typeof t.detail === "string" ? t.detail : JSON.stringify(t.detail)}` : "",
        t.applied === false ? ` (ignored: ${t.ignored_reason})` : ""))));
  };
  followEvents(id, load);
  await every(load);
}

// A list page's pager: back to the newest page (when this is a later one) and on to the older
// page the answer's next_cursor names, both keeping the page's filters.
function pagerLinks(base, filters, later, nextCursor) {
  const older = nextCursor ? new URLSearchParams([...filters, ["cursor", nextCursor]]) : null;
  return h("p", { class: "muted", id: "pager" },
    later ? link(`${base}${filters.size ? "?" + filters : ""}`, "← Newest") : null,
    later && older ? " · " : null,
    older ? link(`${base}?${older}`, "Older →") : null);
}

async function releasesPage(params) {
  const app = params.get("app") ?? "";
  const form = h("form", { class: "filters" }, h("input", { name: "app", placeholder: "app", value: app }),
    h("input", { name: "tag", placeholder: "tag contains", value: params.get("tag") ?? "" }),
    h("button", { type: "submit" }, "Show"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams([...new FormData(form)].filter(([, v]) => v));
    navigate(`/console/releases${q.size ? "?" + q : ""}`);
  });
  const holder = h("div");
  render(h("h1", {}, app ? `Releases of ${app}` : "Releases"), form, holder);
  try {
    // The server looks for the tag (a case-sensitive substring) in every release, not only in
    // the 100 newest.
    const q = new URLSearchParams({ limit: "100" });
    if (app) q.set("app", app);
    if (params.get("tag")) q.set("tag", params.get("tag"));
    const body = await api(`/v1/releases?${q}`);
    const rows = (body.items ?? body.releases ?? []).map((r) => h("tr", {},
      h("td", {}, r.app), h("td", {}, r.version), h("td", {}, r.tag), h("td", {}, r.created_by),
      h("td", {}, (r.sha256 ?? "").slice(0, 12)), h("td", {}, when(r.created_at ?? r.created_at_ms))));
    holder.replaceChildren(table(["app", "version", "tag", "by", "sha256", "created"], rows, { id: "releases" }));
  } catch (e) {
    holder.replaceChildren(message("error", e.message));
  }
}

async function incidentsPage(params) {
  const dep = params.get("deployment_id") ?? "";
  const holder = h("div");
  render(h("h1", {}, "Incidents"), holder);
  try {
    const body = await api(`/v1/incidents${dep ? "?deployment_id=" + encodeURIComponent(dep) : ""}`);
    holder.replaceChildren(table(["incident", "deployment", "status", "summary", "created"], (body.incidents ?? []).map((i) => h("tr", {},
      h("td", {}, link(`/console/incidents/${encodeURIComponent(i.incident_id)}`, i.incident_id.slice(0, 8))),
      h("td", {}, link(`/console/deployments/${encodeURIComponent(i.deployment_id)}`, i.deployment_id.slice(0, 8))),
      h("td", {}, status(i.status)), h("td", {}, i.summary), h("td", {}, when(i.created_at))))));
  } catch (e) {
    holder.replaceChildren(message("error", e.message));
  }
}

async function incidentPage(id) {
  const holder = h("div");
  render(h("h1", {}, "Incident ", id), holder);
  try {
    const [report, chart] = await Promise.all([
      api(`/v1/incidents/${encodeURIComponent(id)}?format=markdown`, { accept: "text/markdown" }),
      api(`/v1/incidents/${encodeURIComponent(id)}/chart.svg`, { accept: "image/svg+xml" }).catch(() => null),
    ]);
    holder.replaceChildren(
      chart ? h("img", { class: "chart", alt: "metric chart", src: URL.createObjectURL(chart) }) : null,
      h("h2", {}, "Report"), h("pre", { class: "report", id: "report" }, report));
  } catch (e) {
    holder.replaceChildren(message("error", e.message));
  }
}

// Deployments held at an approval gate (pause_reason approval_required), live; the approve
// button is there for an approver, the API still refuses self-approval where the policy says so.
async function approvalsPage() {
  const holder = h("div");
  const out = h("div", { id: "action-result" });
  render(h("h1", {}, "Waiting for approval"), out, holder);
  return every(async () => {
    try {
      const body = await api("/v1/deployments?status=paused&limit=200");
      const waiting = (body.deployments ?? []).filter((d) => d.pause_reason === "approval_required");
      holder.replaceChildren(table(["deployment", "app", "env", "version", "batch", "requested by", "since", ""],
        waiting.map((d) => h("tr", { dataset: { id: d.id } },
          h("td", {}, link(`/console/deployments/${encodeURIComponent(d.id)}`, d.id.slice(0, 8))),
          h("td", {}, d.app), h("td", {}, d.env), h("td", {}, d.version),
          h("td", {}, `${Math.min(d.current_batch + 1, d.batch_count)} / ${d.batch_count}`),
          h("td", {}, d.requested_by ?? "—"), h("td", {}, when(d.started_at ?? d.created_at)),
          h("td", {}, can("approver", d.env) ? h("button", { class: "primary", "data-approve": d.id,
            onclick: async () => {
              if (!confirm(`Approve deployment ${d.id.slice(0, 8)} of ${d.app} to version ${d.version} in ${d.env}?`)) return;
              try {
                const r = await api(`/v1/deployments/${encodeURIComponent(d.id)}:approve`, { method: "POST",
                  body: { reason: `from the console by ${session.name}` } });
                out.replaceChildren(message("ok", `Approve: accepted (command ${r.command_id})`));
              } catch (e) {
                out.replaceChildren(message("error", `Approve refused: ${e.message}`));
              }
            } }, "Approve") : h("span", { class: "muted" }, `needs the approver role in ${d.env}`)))),
        { id: "approvals" }));
    } catch (e) {
      holder.replaceChildren(message("error", e.message));
    }
  });
}

// The audit log (the API allows it to admins only). The filters are the API's (exact matches);
// the API's next_cursor gives the older pages, the filters (and a limit given) kept.
async function auditPage(params) {
  const form = h("form", { class: "filters", id: "audit-filters" },
    h("input", { name: "actor", placeholder: "actor", value: params.get("actor") ?? "" }),
    h("input", { name: "action", placeholder: "action, e.g. deployment.approve", value: params.get("action") ?? "" }),
    h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams([...new FormData(form)].map(([k, v]) => [k, v.trim()]).filter(([, v]) => v));
    navigate(`/console/audit${q.size ? "?" + q : ""}`);
  });
  const holder = h("div");
  render(h("h1", {}, "Audit log"), form, holder);
  if (!can("admin")) return holder.replaceChildren(message("error", `The audit log needs the admin role (you are ${session?.role ?? "not signed in"}).`));
  const filters = new URLSearchParams();
  for (const k of ["actor", "action", "app", "env", "since", "until", "limit"]) if (params.get(k)) filters.set(k, params.get(k));
  const q = new URLSearchParams(filters);
  if (!q.has("limit")) q.set("limit", "100");
  if (params.get("cursor")) q.set("cursor", params.get("cursor"));
  try {
    const body = await api(`/v1/audit?${q}`);
    const pager = pagerLinks("/console/audit", filters, q.has("cursor"), body.next_cursor);
    const rows = (body.items ?? []).map((e) => h("tr", { dataset: { id: e.id } },
      h("td", {}, when(e.at_ms)), h("td", {}, e.actor), h("td", {}, e.action), h("td", {}, e.target),
      h("td", {}, status(e.outcome)), h("td", { class: "evidence" }, JSON.stringify(e.detail ?? {}))));
    holder.replaceChildren(table(["at", "actor", "action", "target", "outcome", "detail"], rows, { id: "audit" }), pager);
  } catch (e) {
    holder.replaceChildren(message("error", e.message));
  }
}

async function appsPage() {
  const holder = h("div");
  render(h("h1", {}, "Apps"), holder);
  try {
    const body = await api("/v1/apps");
    holder.replaceChildren(table(["app", "spec version", "environments", "applied by", "applied"],
      (body.items ?? []).map((a) => h("tr", { dataset: { app: a.app } },
        h("td", {}, link(`/console/apps/${encodeURIComponent(a.app)}`, a.app)), h("td", {}, a.version),
        h("td", {}, (a.environments ?? []).join(", ")), h("td", {}, a.applied_by), h("td", {}, when(a.applied_at_ms)))),
      { id: "apps" }));
  } catch (e) {
    holder.replaceChildren(message("error", e.message));
  }
}

// A line diff (longest common subsequence): [{op: " " | "-" | "+", line}].
function diffLines(a, b) {
  const x = a.split("\n");
  const y = b.split("\n");
  const n = x.length;
  const m = y.length;
  if (n * m > 4_000_000) return [{ op: "-", line: `(${n} lines)` }, { op: "+", line: `(${m} lines): too large to compare here` }];
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--)
    lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) { out.push({ op: " ", line: x[i] }); i++; j++; }
    else if (lcs[i + 1][j] >= lcs[i][j + 1]) out.push({ op: "-", line: x[i++] });
    else out.push({ op: "+", line: y[j++] });
  }
  while (i < n) out.push({ op: "-", line: x[i++] });
  while (j < m) out.push({ op: "+", line: y[j++] });
  return out;
}

// One app: its spec versions, and the diff between two of them (default: the latest two).
async function appPage(app, params) {
  const holder = h("div");
  render(h("h1", {}, "App ", app), h("p", {}, link(`/console/releases?app=${encodeURIComponent(app)}`, "Releases"), " · ",
    link(`/console/deployments?app=${encodeURIComponent(app)}`, "Deployments")), holder);
  try {
    const body = await api(`/v1/apps/${encodeURIComponent(app)}/versions`);
    const versions = body.items ?? [];
    if (!versions.length) return holder.replaceChildren(message("error", `No delivery spec applied for ${app}`));
    const newest = versions[0].version;
    const to = Number(params.get("to") ?? newest);
    const from = Number(params.get("from") ?? (versions.find((v) => v.version < to)?.version ?? to));
    const pick = (name, value) => h("select", { name }, versions.map((v) =>
      h("option", { value: v.version, selected: v.version === value }, `v${v.version} · ${v.applied_by} · ${when(v.applied_at_ms)}`)));
    const form = h("form", { class: "filters", id: "diff-form" }, "Compare", pick("from", from), "with", pick("to", to),
      h("button", { type: "submit" }, "Show diff"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const q = new URLSearchParams([...new FormData(form)]);
      navigate(`/console/apps/${encodeURIComponent(app)}?${q}`);
    });
    const [a, b] = await Promise.all([from, to].map((v) => api(`/v1/apps/${encodeURIComponent(app)}?version=${v}`)));
    const lines = diffLines(a.yaml ?? "", b.yaml ?? "");
    const changed = lines.filter((l) => l.op !== " ").length;
    holder.replaceChildren(
      table(["version", "sha256", "applied by", "applied"], versions.map((v) => h("tr", {},
        h("td", {}, `v${v.version}`), h("td", {}, (v.sha256 ?? "").slice(0, 12)),
        h("td", {}, v.applied_by), h("td", {}, when(v.applied_at_ms)))), { id: "versions" }),
      h("h2", {}, `Spec v${from} → v${to}`), form,
      h("p", { class: "muted", id: "diff-summary" }, from === to ? "the same version" : `${changed} line(s) changed`),
      h("pre", { class: "diff", id: "diff" }, lines.map((l) =>
        h("span", { class: l.op === "+" ? "add" : l.op === "-" ? "del" : "same" }, `${l.op} ${l.line}\n`))));
  } catch (e) {
    holder.replaceChildren(message("error", e.message));
  }
}

// ---- routing (history API: the notices' /console/deployments/<id> links land here)
function navigate(href) {
  history.pushState(null, "", href);
  route();
}

async function route() {
  clearInterval(timer);
  stream?.close();
  stream = null;
  const url = new URL(location.href);
  const parts = url.pathname.replace(/^\/console\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  document.getElementById("who").textContent = session?.kind === "token" ? `${session.name} · ${session.role}` : "";
  const out = document.getElementById("logout");
  out.hidden = !session;
  out.textContent = session?.kind === "link" ? "Sign in with a token" : "Sign out";
  if (!session) return render(loginPage(null));
  if (session.kind === "link") {
    // A signed link opens its own page only.
    const own = session.path.replace(/^\/console\/?/, "").split("/");
    if (parts.join("/") !== own.join("/")) return render(message("error", "This signed link opens one deployment only; sign in with an API token for the rest."));
  }
  const [section, id] = parts;
  if (!section || section === "deployments") return id ? deploymentPage(id) : deploymentsPage(url.searchParams);
  if (section === "releases") return releasesPage(url.searchParams);
  if (section === "apps") return id ? appPage(id, url.searchParams) : appsPage();
  if (section === "approvals") return approvalsPage();
  if (section === "audit") return auditPage(url.searchParams);
  if (section === "incidents") return id ? incidentPage(id) : incidentsPage(url.searchParams);
  render(message("error", `No console page at ${url.pathname}`), link("/console/deployments", "Deployments"));
}

async function start() {
  document.addEventListener("click", (ev) => {
    const a = ev.target.closest("a[data-nav]");
    if (!a || ev.metaKey || ev.ctrlKey || ev.shiftKey || a.origin !== location.origin) return;
    ev.preventDefault();
    navigate(a.pathname + a.search);
  });
  window.addEventListener("popstate", route);
  document.getElementById("logout").addEventListener("click", async () => {
    if (session?.kind === "token") await api("/v1/sessions/current", { method: "DELETE" }).catch(() => null);
    sessionStorage.removeItem(LINK_KEY);
    session = null;
    document.getElementById("banner").hidden = true;
    navigate("/console/");
  });
  const url = new URL(location.href);
  const banner = document.getElementById("banner");
  if (url.searchParams.has("sig")) {
    // Opened from a signed link: keep it for this tab's API calls, drop it from the address bar.
    const exp = Number(url.searchParams.get("exp"));
    sessionStorage.setItem(LINK_KEY, url.pathname + url.search);
    history.replaceState(null, "", url.pathname);
    session = { kind: "link", path: url.pathname, expires: exp };
  } else if (await resumeSession()) {
    // signed in by the session cookie of an earlier sign-in (a reload, a new tab)
  } else if (sessionStorage.getItem(LINK_KEY)) {
    const saved = new URL(sessionStorage.getItem(LINK_KEY), location.origin);
    session = { kind: "link", path: saved.pathname, expires: Number(saved.searchParams.get("exp")) };
  }
  if (session?.kind === "link") {
    banner.hidden = false;
    banner.id = "banner";
    banner.textContent = `Opened from a signed link: read-only, until ${new Date(session.expires * 1000).toLocaleString()}. Sign in with an API token to act.`;
  }
  route();
}

start();
