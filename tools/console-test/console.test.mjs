// Browser tests of the Sluice web console: Debian's headless chromium driven by playwright-core,
// against a release-intake (and the services behind it) that test/console/console_test.sh
// started. Every check is a named case; the run prints each with its time and fails at the end
// if any failed.
import { createHmac } from "node:crypto";
import { execFileSync } from "node:child_process";
import { readFileSync, mkdirSync, copyFileSync } from "node:fs";
import { chromium } from "playwright-core";

const API = process.env.SLUICE_TEST_API.replace(/\/$/, "");
const ADMIN = process.env.SLUICE_TEST_ADMIN_TOKEN;
const [LINK_KID, LINK_SECRET] = [process.env.SLUICE_TEST_LINK_KEY.split(":")[0],
  process.env.SLUICE_TEST_LINK_KEY.split(":").slice(1).join(":")];
const APP = process.env.SLUICE_TEST_APP;
const SPEC = readFileSync(process.env.SLUICE_TEST_SPEC, "utf8");
const SHOTS = process.env.SLUICE_CONSOLE_SHOTS;
const README_SHOT = process.env.SLUICE_CONSOLE_README_SHOT === "1";
const REPO = new URL("../..", import.meta.url).pathname;
const WAIT = 20000;

async function api(method, path, token, body, contentType) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = contentType ?? "application/json";
  const res = await fetch(API + path, { method, headers,
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}
async function must(method, path, token, body, contentType) {
  const r = await api(method, path, token, body, contentType);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return r.json;
}
function signed(path, exp) {
  const sig = createHmac("sha256", LINK_SECRET).update(`sluice-link-v1\n${path}\n${exp}`).digest("base64url");
  return `${path}?exp=${exp}&kid=${LINK_KID}&sig=${sig}`;
}

// ---- data, all through the API
const suffix = Math.random().toString(16).slice(2, 8);
const tokens = {};
for (const role of ["viewer", "deployer", "approver"]) {
  tokens[role] = (await must("POST", "/v1/tokens", ADMIN, { name: `console-${role}-${suffix}`, role, expires_in: "1h" })).token;
}
await must("PUT", `/v1/apps/${APP}`, tokens.approver, SPEC, "application/yaml");
const release = await must("POST", "/v1/releases", tokens.deployer, { app: APP, tag: `v2.4.0-${suffix}`, version: "2.4.0",
  artifact_url: "http://127.0.0.1:1/shop-2.4.0.tgz", sha256: createHmac("sha256", "x").update(suffix).digest("hex") });
// Requested by the approver: the same approver approving it is self-approval (refused).
const requested = await must("POST", "/v1/deployments", tokens.approver, { release_id: release.id, env: "production" });
const DEP = requested.deployment_id;
let deployment = null;
for (const deadline = Date.now() + WAIT; Date.now() < deadline;) {
  const r = await api("GET", `/v1/deployments/${DEP}`, ADMIN);
  if (r.status === 200) { deployment = r.json; break; }
  await new Promise((ok) => setTimeout(ok, 300));
}
if (!deployment) throw new Error(`deployment ${DEP} never reached the planner`);
console.log(`deployment ${DEP}: ${deployment.status}/${deployment.phase}, ${deployment.batches.length} batches`);

// ---- the browser
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
const results = [];
const consoleErrors = [];
async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on("pageerror", (e) => consoleErrors.push(`${page.url()}: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error" && !/401|403|404/.test(m.text())) consoleErrors.push(`${page.url()}: ${m.text()}`); });
  page.on("dialog", (d) => d.accept());
  return page;
}
async function signIn(page, token) {
  await page.goto(`${API}/console/`);
  await page.fill("#token", token);
  await page.click("#login button[type=submit]");
  // Signed in (the session cookie is set: a navigation may follow) or refused.
  await page.locator("#who:not(:empty), #login .message.error").first().waitFor();
}
async function check(name, fn) {
  const t = Date.now();
  try {
    await fn();
    results.push({ name, ok: true, ms: Date.now() - t });
    console.log(`  ok   ${name} (${Date.now() - t} ms)`);
  } catch (e) {
    results.push({ name, ok: false, ms: Date.now() - t });
    console.log(`  FAIL ${name} (${Date.now() - t} ms): ${e.message.split("\n").slice(0, 6).join("\n       ")}`);
  }
}
function expect(cond, what) { if (!cond) throw new Error(what); }
async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

await check("the console is served with its content types, caching headers and CSP", async () => {
  for (const [path, type] of [["/console/", "text/html"], ["/console/deployments/x", "text/html"],
    ["/console/assets/app.js", "text/javascript"], ["/console/assets/style.css", "text/css"]]) {
    const res = await fetch(API + path);
    expect(res.status === 200, `${path}: ${res.status}`);
    expect((res.headers.get("content-type") ?? "").startsWith(type), `${path}: ${res.headers.get("content-type")}`);
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp.includes("script-src 'self'") && !csp.includes("unsafe"), `${path}: CSP ${csp}`);
    expect(res.headers.get("cache-control") === "no-cache" && res.headers.get("etag"), `${path}: caching headers`);
    expect(res.headers.get("referrer-policy") === "no-referrer", `${path}: Referrer-Policy`);
    const again = await fetch(API + path, { headers: { "If-None-Match": res.headers.get("etag") } });
    expect(again.status === 304, `${path}: If-None-Match gave ${again.status}`);
  }
});

await check("an invalid token shows a clear error", async () => {
  const page = await newPage();
  await signIn(page, "slc_not_a_real_token");
  await page.getByText("Sign-in refused: unknown API token").waitFor();
  expect(await page.locator("#token").isVisible(), "the sign-in form is gone");
  expect(await page.evaluate(() => sessionStorage.getItem("sluice.token")) === null, "the bad token was kept");
  await shot(page, "login-refused");
  await page.context().close();
});

await check("the list renders the deployment created through the API (live)", async () => {
  const page = await newPage();
  await signIn(page, tokens.viewer);
  await page.locator(`#deployments tr[data-id="${DEP}"]`).waitFor();
  const row = await page.locator(`#deployments tr[data-id="${DEP}"]`).innerText();
  expect(row.includes(APP) && row.includes("2.4.0") && row.includes("production"), `row: ${row}`);
  expect(await page.locator("#who").innerText() === `console-viewer-${suffix} · viewer`, "who");
  // Live: a deployment requested after the page loaded shows up without a reload.
  const second = await must("POST", "/v1/deployments", tokens.deployer, { release_id: release.id, env: "production" });
  await page.locator(`#deployments tr[data-id="${second.deployment_id}"]`).waitFor({ timeout: WAIT });
  await shot(page, "deployments");
  await page.context().close();
});

await check("a notice's console link lands on the deployment; the detail shows batches, hosts, timeline", async () => {
  const page = await newPage();
  await signIn(page, tokens.viewer);
  // The notifier links to <SLUICE_CONSOLE_URL>/deployments/<id>.
  await page.goto(`${API}/console/deployments/${DEP}`);
  await page.locator("#batches tbody tr[data-batch]").first().waitFor();
  const rows = await page.locator("#batches tbody tr[data-batch]").count();
  expect(rows === deployment.batches.length && rows >= 2, `${rows} batch rows, the API has ${deployment.batches.length}`);
  const first = await page.locator("#batches tbody tr[data-batch='0']").innerText();
  expect(first.includes("web-1") && first.includes("approval"), `batch 1: ${first}`);
  expect((await page.locator("#timeline li").count()) >= 1, "no timeline");
  expect((await page.locator("#facts").innerText()).includes(DEP), "facts");
  await page.context().close();
});

await check("a viewer sees no action buttons, and the API refuses a viewer's approve (403)", async () => {
  const page = await newPage();
  await signIn(page, tokens.viewer);
  await page.goto(`${API}/console/deployments/${DEP}`);
  await page.locator("#actions-note").waitFor();
  expect((await page.locator("#actions button").count()) === 0, "a viewer sees action buttons");
  const note = await page.locator("#actions-note").innerText();
  expect(note.includes("needs the approver role") && note.includes("you are viewer"), `note: ${note}`);
  // The button is only a hint: the same call made from the page with the viewer's session (its
  // cookie and its CSRF token) is refused for the role.
  const answer = await page.evaluate(async ([dep]) => {
    const me = await (await fetch("/v1/sessions/current")).json();
    const res = await fetch(`/v1/deployments/${dep}:approve`, { method: "POST",
      headers: { "X-CSRF-Token": me.csrf_token, "Content-Type": "application/json" }, body: "{}" });
    return [res.status, (await res.json()).error?.code];
  }, [DEP]);
  expect(answer[0] === 403 && answer[1] === "forbidden", `a viewer's approve answered ${answer}`);
  await page.context().close();
});

await check("sign-in makes an HttpOnly SameSite=Strict session; a forged POST is refused; sign-out ends it", async () => {
  const page = await newPage();
  await signIn(page, tokens.approver);
  await page.locator("#deployments").waitFor();
  const cookie = (await page.context().cookies()).find((c) => c.name === "sluice_session");
  expect(cookie && cookie.httpOnly && cookie.sameSite === "Strict", `cookie: ${JSON.stringify(cookie)}`);
  expect(!(await page.evaluate(() => document.cookie)).includes("sluice_session"), "the script can read the cookie");
  const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage }));
  expect(!stored.includes(tokens.approver) && !stored.includes("slc_"), `the token is stored in the browser: ${stored}`);
  // A POST with the cookie but without the session's CSRF token (what a forged form or a script
  // that only rides the cookie would send) is refused, whatever the role.
  const forged = await page.evaluate(async ([dep]) => {
    const res = await fetch(`/v1/deployments/${dep}:approve`, { method: "POST",
      headers: { "Content-Type": "application/json" }, body: "{}" });
    return [res.status, (await res.json()).error?.code];
  }, [DEP]);
  expect(forged[0] === 403 && forged[1] === "csrf", `a POST without the CSRF token answered ${forged}`);
  // A reload stays signed in (the cookie), with the CSRF token fetched again.
  await page.reload();
  await page.locator("#who", { hasText: `console-approver-${suffix}` }).waitFor();
  await page.click("#logout");
  await page.locator("#token").waitFor();
  const after = await fetch(API + "/v1/whoami", { headers: { Cookie: `sluice_session=${cookie.value}` } });
  expect(after.status === 401, `the signed-out session's cookie still answers ${after.status}`);
  await page.context().close();
});

await check("approvals: the deployment at its approval gate is listed; a viewer gets no approve button", async () => {
  const page = await newPage();
  await signIn(page, tokens.viewer);
  await page.goto(`${API}/console/approvals`);
  const row = page.locator(`#approvals tr[data-id="${DEP}"]`);
  await row.waitFor();
  expect((await row.innerText()).includes(`console-approver-${suffix}`), "the requester is not shown");
  expect((await row.locator("button").count()) === 0, "a viewer sees an approve button");
  await page.context().close();
  // The approver who requested it gets the button, and the API's answer (self-approval) shows.
  const own = await newPage();
  await signIn(own, tokens.approver);
  await own.goto(`${API}/console/approvals`);
  await own.click(`#approvals button[data-approve="${DEP}"]`);
  const msg = await own.locator("#action-result .message.error").innerText();
  expect(/Approve refused: .*request/i.test(msg), `message: ${msg}`);
  await shot(own, "approvals");
  await own.context().close();
});

await check("self-approval is refused as the API refuses it", async () => {
  const page = await newPage();
  await signIn(page, tokens.approver);
  await page.goto(`${API}/console/deployments/${DEP}`);
  await page.locator("#do-approve:enabled").waitFor();
  await page.click("#do-approve");
  const msg = await page.locator("#action-result .message.error").innerText();
  expect(/Approve refused: .*request/i.test(msg), `message: ${msg}`);
  await page.context().close();
});

await check("an operator's pause is accepted and shows on the deployment", async () => {
  const page = await newPage();
  await signIn(page, tokens.deployer);
  await page.goto(`${API}/console/deployments/${DEP}`);
  await page.locator("#do-pause:enabled").waitFor();
  expect((await page.locator("#do-approve").count()) === 0, "a deployer sees an approve button");
  expect((await page.locator("#actions-note").innerText()).includes("Approve, Roll back: needs the approver role"), "no note on approve");
  await page.click("#do-pause");
  await page.locator("#action-result .message.ok").getByText("Pause: accepted").waitFor();
  // The planner applies it: the timeline records the operator's pause.
  await page.locator("#timeline li", { hasText: /pause/i }).first().waitFor({ timeout: WAIT });
  await shot(page, "deployment");
  if (README_SHOT) copyFileSync(`${SHOTS}/deployment.png`, `${REPO}/docs/console.png`);
  await page.context().close();
});

await check("GET /v1/events streams the deployment's transitions as server-sent events", async () => {
  const page = await newPage();
  await signIn(page, tokens.deployer);
  await page.goto(`${API}/console/deployments/${DEP}`);
  await page.locator("#live", { hasText: "live (server-sent events)" }).waitFor();
  // In the page (its session cookie): once the stream's snapshot is in, resume the deployment;
  // the resume must arrive as a transition event on the open stream.
  const seen = await page.evaluate(async ([dep]) => {
    const me = await (await fetch("/v1/sessions/current")).json();
    return new Promise((resolve, reject) => {
      const es = new EventSource(`/v1/events?deployment=${dep}`);
      const kinds = [];
      es.addEventListener("snapshot", async () => {
        kinds.push("snapshot");
        await fetch(`/v1/deployments/${dep}:resume`, { method: "POST",
          headers: { "X-CSRF-Token": me.csrf_token, "Content-Type": "application/json" }, body: JSON.stringify({ reason: "events check" }) });
      });
      es.addEventListener("transition", (e) => {
        const t = JSON.parse(e.data);
        kinds.push(`${t.kind}#${e.lastEventId}`);
        if (/resume/.test(t.kind)) { es.close(); resolve(kinds); }
      });
      setTimeout(() => { es.close(); reject(new Error(`no resume transition within 15 s: ${kinds}`)); }, 15000);
    });
  }, [DEP]);
  expect(seen[0] === "snapshot" && /resume#\d+$/.test(seen.at(-1)), `events: ${seen}`);
  // The page itself followed: its timeline shows the resume without a reload.
  await page.locator("#timeline li", { hasText: /resume/i }).first().waitFor({ timeout: WAIT });
  await page.context().close();
});

await check("releases of an app", async () => {
  const page = await newPage();
  await signIn(page, tokens.viewer);
  await page.goto(`${API}/console/releases?app=${APP}`);
  await page.locator("#releases tbody tr", { hasText: "2.4.0" }).waitFor();
  // "tag contains" is asked of the server, not applied to the rows the page already has.
  const asked = [];
  page.on("request", (r) => { if (new URL(r.url()).pathname === "/v1/releases") asked.push(new URL(r.url())); });
  await page.goto(`${API}/console/releases?app=${APP}&tag=${encodeURIComponent(`2.4.0-${suffix}`)}`);
  await page.locator("#releases tbody tr", { hasText: "2.4.0" }).waitFor();
  expect(asked.some((u) => u.searchParams.get("tag") === `2.4.0-${suffix}`), `no tag sent: ${asked.join(" ")}`);
  await page.goto(`${API}/console/releases?app=${APP}&tag=no-such-tag-${suffix}`);
  await page.locator("#releases").waitFor();
  expect((await page.locator("#releases tbody tr", { hasText: "2.4.0" }).count()) === 0, "a tag that matches nothing listed a release");
  await page.context().close();
});

await check("a signed link opens the deployment without a token, read-only", async () => {
  const made = await must("POST", "/v1/links", tokens.deployer, { path: `/console/deployments/${DEP}`, expires_in: "15m" });
  const page = await newPage();
  await page.goto(API + made.url);
  await page.locator("#batches tbody tr[data-batch]").first().waitFor();
  expect((await page.locator("#banner").innerText()).includes("signed link"), "no read-only banner");
  expect((await page.locator("#actions button").count()) === 0, "action buttons under a link");
  expect((await page.locator("#actions-note").innerText()).includes("signed link"), "no read-only note");
  expect(!page.url().includes("sig="), "the signature stays in the address bar");
  expect(await page.evaluate(() => sessionStorage.getItem("sluice.token")) === null, "a token appeared");
  await shot(page, "signed-link");
  await page.context().close();
});

await check("an expired signed link is refused with the reason", async () => {
  const page = await newPage();
  await page.goto(API + signed(`/console/deployments/${DEP}`, Math.floor(Date.now() / 1000) - 60));
  await page.locator(".message.error", { hasText: "signed link expired at" }).waitFor();
  expect((await page.locator("#batches").count()) === 0, "the deployment rendered");
  await page.context().close();
});

await check("a signed link opens nothing but its own page", async () => {
  const page = await newPage();
  await page.goto(API + signed(`/console/deployments/${DEP}`, Math.floor(Date.now() / 1000) + 600));
  await page.locator("#batches").waitFor();
  const status = await page.evaluate(async () => (await fetch("/v1/releases", {
    headers: { "X-Sluice-Link": sessionStorage.getItem("sluice.link") } })).status);
  expect(status === 401, `a link read /v1/releases: ${status}`);
  await page.context().close();
});

await check("an app's spec versions and the diff between the latest two", async () => {
  await must("PUT", `/v1/apps/${APP}`, tokens.approver, SPEC + `# second version ${suffix}\n`, "application/yaml");
  const page = await newPage();
  await signIn(page, tokens.viewer);
  await page.goto(`${API}/console/apps`);
  await page.click(`#apps tr[data-app="${APP}"] a`);
  await page.locator("#diff").waitFor();
  expect((await page.locator("#versions tbody tr").count()) >= 2, "fewer than two versions listed");
  const added = await page.locator("#diff .add").allInnerTexts();
  expect(added.length === 1 && added[0].includes(`# second version ${suffix}`), `added lines: ${JSON.stringify(added)}`);
  expect((await page.locator("#diff .del").count()) === 0, "lines shown as removed");
  expect((await page.locator("#diff-summary").innerText()) === "1 line(s) changed", "summary");
  await shot(page, "app-spec-diff");
  await page.context().close();
});

await check("the audit log: an admin filters it; anyone else is told it needs the admin role", async () => {
  const page = await newPage();
  await signIn(page, ADMIN);
  await page.goto(`${API}/console/audit?action=session.create`);
  await page.locator("#audit tbody tr").first().waitFor();
  const actions = await page.locator("#audit tbody tr td:nth-child(3)").allInnerTexts();
  expect(actions.length > 0 && actions.every((a) => a === "session.create"), `actions: ${actions.slice(0, 5)}`);
  expect((await page.locator("#audit").innerText()).includes(`console-viewer-${suffix}`), "the viewer's sign-in is not audited");
  await shot(page, "audit");
  // Pages of one: "Older →" follows next_cursor to the entry before, the filter kept.
  await page.goto(`${API}/console/audit?action=session.create&limit=1`);
  await page.locator("#audit tbody tr").first().waitFor();
  const newest = Number(await page.locator("#audit tbody tr").first().getAttribute("data-id"));
  await page.click("#pager a:has-text('Older')");
  await page.locator(`#audit tbody tr:not([data-id="${newest}"])`).first().waitFor();
  const older = Number(await page.locator("#audit tbody tr").first().getAttribute("data-id"));
  expect(older < newest, `the older page starts at entry ${older}, after ${newest}`);
  expect(await page.locator("#audit tbody tr").count() === 1, "a page of one has more rows");
  expect((await page.locator("#audit tbody tr td:nth-child(3)").innerText()) === "session.create", "the filter was lost");
  expect(new URL(page.url()).searchParams.get("action") === "session.create", `url ${page.url()}`);
  await page.locator("#pager a", { hasText: "Newest" }).waitFor();
  await page.context().close();
  const viewer = await newPage();
  await signIn(viewer, tokens.viewer);
  await viewer.goto(`${API}/console/audit`);
  await viewer.locator(".message.error", { hasText: "needs the admin role" }).waitFor();
  await viewer.context().close();
});

await check("a timed pause counts down on the deployment page", async () => {
  // The same spec under another app whose first step is a 10-minute pause: the deployment waits
  // there at once, and the planner says when it resumes by itself.
  const app = `${APP}-wait`;
  const spec = SPEC.replace(`app: ${APP}`, `app: ${app}`).replace("- approval: required", "- pause: 10m");
  await must("PUT", `/v1/apps/${app}`, tokens.approver, spec, "application/yaml");
  const rel = await must("POST", "/v1/releases", tokens.deployer, { app, tag: `v2.5.0-${suffix}`, version: "2.5.0",
    artifact_url: "http://127.0.0.1:1/shop-2.5.0.tgz", sha256: createHmac("sha256", "y").update(suffix).digest("hex") });
  const dep = (await must("POST", "/v1/deployments", tokens.deployer, { release_id: rel.id, env: "production" })).deployment_id;
  let d = null;
  for (const deadline = Date.now() + WAIT; Date.now() < deadline && !d?.resumes_at;) {
    d = (await api("GET", `/v1/deployments/${dep}`, tokens.viewer)).json;
    if (!d?.resumes_at) await new Promise((ok) => setTimeout(ok, 300));
  }
  expect(d?.pause_reason === "pause_step" && d?.resumes_at, `the API: ${JSON.stringify(d)?.slice(0, 300)}`);
  const left = Date.parse(d.resumes_at) - Date.now();
  expect(left > 9 * 60000 && left <= 10 * 60000, `resumes_at ${d.resumes_at} is not 10 minutes after the pause began`);
  const page = await newPage();
  await signIn(page, tokens.viewer);
  await page.goto(`${API}/console/deployments/${encodeURIComponent(dep)}`);
  const countdown = page.locator("#countdown");
  await countdown.waitFor();
  const first = await countdown.innerText();
  expect(/^resumes in (9m\d+s|10m0s)$/.test(first), `countdown: ${first}`);
  await page.waitForTimeout(2100);
  const later = await countdown.innerText();
  expect(later !== first && /^resumes in 9m\d+s$/.test(later), `the countdown did not tick: ${first} then ${later}`);
  await page.context().close();
  await must("POST", `/v1/deployments/${dep}:abort`, tokens.deployer, {});
});

// An analysis as the metric-watcher stores it (its own schema of this run): the deployment held
// at its approval gate never reaches one, so this one is written into the watcher's tables, and
// the page reads it back through release-intake and the watcher's API as any other.
function seedAnalysis(id) {
  const q = (s) => `'${String(s).replaceAll("'", "''")}'`;
  const start = Date.now() - 5 * 60000;
  const values = [0.01, 0.012, 0.03, 0.09, 0.12];
  const rows = values.map((v, i) => {
    const at = new Date(start + i * 60000).toISOString();
    const verdict = v > 0.05 ? "Failed" : "Successful";
    const per = JSON.stringify({ error_rate: [{ instance: "web-1", value: v }, { instance: "web-2", value: v / 4 }] });
    return `(${q(id)}, 'errors', ${q(at)}, '{"error_rate":"sum(rate(http_errors_total[1m]))"}', ${q(per)}, 'error_rate', ${v}, 0.05, '>', ${q(verdict)}, ${q(`error_rate ${v}`)})`;
  });
  const sql = `SET search_path TO ${process.env.SLUICE_TEST_WATCHER_SCHEMA};
INSERT INTO analyses (id, deployment_id, batch_index, app, env, version, baseline_version, template_name, status, started_at, finished_at, reason)
  VALUES (${q(id)}, ${q(DEP)}, 0, ${q(APP)}, 'production', '2.4.0', '2.3.0', 'error-rate', 'Failed', ${q(new Date(start).toISOString())}, now(), 'error_rate 0.12 > 0.05 on web-1');
INSERT INTO measurements (analysis_id, rule, taken_at, queries, "values", metric, observed, threshold, comparator, verdict, message) VALUES
  ${rows.join(",\n  ")};`;
  execFileSync("psql", [process.env.SLUICE_TEST_WATCHER_PG_DSN, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql]);
}

await check("a batch's analysis is drawn: measurements over time, each canary, the threshold, the verdict and its reason", async () => {
  seedAnalysis(`an-${suffix}`);
  const page = await newPage();
  await signIn(page, tokens.viewer);
  await page.goto(`${API}/console/deployments/${DEP}`);
  const chart = page.locator(`#analysis-charts svg.analysis-chart[data-rule="errors"]`);
  await chart.waitFor();
  expect(await chart.getAttribute("data-verdict") === "Failed", `verdict ${await chart.getAttribute("data-verdict")}`);
  expect(await chart.locator("circle.measurement").count() === 5, "not one dot per measurement");
  expect(await chart.locator("path.instance").count() === 2, "not one line per canary instance");
  const verdict = await chart.locator("text.verdict").textContent();
  expect(verdict === "Failed: error_rate 0.12 > 0.05 on web-1", `verdict text: ${verdict}`);
  // The threshold between the passing dots (below it) and the failing ones (above it).
  const ty = Number(await chart.locator("line.threshold").getAttribute("y1"));
  const dots = await chart.locator("circle.measurement").evaluateAll((cs) => cs.map((c) => [Number(c.getAttribute("cy")), c.getAttribute("fill")]));
  expect(dots.slice(0, 3).every(([cy]) => cy > ty) && dots.slice(3).every(([cy]) => cy < ty), `dots ${JSON.stringify(dots)} vs threshold at ${ty}`);
  expect(dots[0][1] !== dots[4][1], "a passing and a failing measurement look the same");
  // No label overlaps another.
  const boxes = await chart.locator("text").evaluateAll((ts) => ts.map((t) => { const b = t.getBBox(); return [b.x, b.y, b.width, b.height, t.textContent]; }));
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, b] = [boxes[i], boxes[j]];
      const apart = a[0] + a[2] <= b[0] || b[0] + b[2] <= a[0] || a[1] + a[3] <= b[1] || b[1] + b[3] <= a[1];
      expect(apart, `labels "${a[4]}" and "${b[4]}" overlap`);
    }
  }
  await shot(page, "analysis");
  await page.context().close();
});

await check("no script errors on any page", async () => {
  expect(consoleErrors.length === 0, consoleErrors.join("\n"));
});

await browser.close();
const failed = results.filter((r) => !r.ok);
console.log(`${results.length - failed.length}/${results.length} browser checks passed`);
process.exit(failed.length ? 1 : 0);
