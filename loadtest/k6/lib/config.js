// Shared configuration of every loadlens k6 scenario: target, SLAs, tags,
// environment overrides and the request helpers. Scenario files only choose
// an executor and a request mix; everything else lives here.
//
// Environment (all optional; `k6 run -e NAME=value` or the process env):
//   BASE_URL        demo service, default http://127.0.0.1:8080
//   USERS, POSTS    id ranges seeded by `loadlens-demo seed` (10000, 100000)
//   DURATION, VUS, RATE, MAX_VUS, RAMP, STEP_DURATION, STEPS, SLEEP,
//   START_RATE, GRACEFUL_STOP  scenario sizes, so tests can run short.
//   HOT_SHARE, HOT_IDS  popularity skew of single-item reads (popularId).
import http from 'k6/http';
import { check, sleep } from 'k6';

export const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
export const USERS = intEnv('USERS', 10000);
export const POSTS = intEnv('POSTS', 100000);

// Route patterns: the `name` tag of every request, so the `url` label never
// carries raw ids. They match the demo service's http_route values.
export const ROUTES = Object.freeze({
  getUser: 'GET /users/{id}',
  patchUser: 'PATCH /users/{id}',
  listUsers: 'GET /users',
  createPost: 'POST /posts',
  getPost: 'GET /posts/{id}',
  listPosts: 'GET /posts',
});

// Per-endpoint SLAs (milliseconds, error ratio). internal/report's
// DefaultSLA mirrors this table; a Go test compares the two through
// `k6 inspect`.
export const SLA = Object.freeze({
  [ROUTES.getUser]: { p95: 300, p99: 500, errors: 0.01 },
  [ROUTES.patchUser]: { p95: 400, p99: 800, errors: 0.01 },
  [ROUTES.listUsers]: { p95: 400, p99: 800, errors: 0.01 },
  [ROUTES.createPost]: { p95: 500, p99: 1000, errors: 0.01 },
  [ROUTES.getPost]: { p95: 300, p99: 500, errors: 0.01 },
  [ROUTES.listPosts]: { p95: 400, p99: 800, errors: 0.01 },
});

// Minimum share of passing checks for the whole run.
export const CHECKS_RATE = 0.99;

export function intEnv(name, def) {
  const v = __ENV[name];
  if (v === undefined || v === '') return def;
  const n = parseInt(v, 10);
  if (isNaN(n) || n < 0) throw new Error(`${name}=${v}: want a non-negative integer`);
  return n;
}

export function floatEnv(name, def) {
  const v = __ENV[name];
  if (v === undefined || v === '') return def;
  const n = parseFloat(v);
  if (isNaN(n) || n < 0) throw new Error(`${name}=${v}: want a non-negative number`);
  return n;
}

export function strEnv(name, def) {
  const v = __ENV[name];
  return v === undefined || v === '' ? def : v;
}

// listEnv parses "10,50,100" into numbers.
export function listEnv(name, def) {
  const v = __ENV[name];
  if (v === undefined || v === '') return def;
  return v.split(',').map((s) => {
    const n = parseInt(s.trim(), 10);
    if (isNaN(n) || n <= 0) throw new Error(`${name}=${v}: want comma-separated positive integers`);
    return n;
  });
}

// durationSeconds turns a k6 duration ("90s", "2m", "1m30s", "500ms") into seconds.
export function durationSeconds(d) {
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let m;
  let matched = '';
  while ((m = re.exec(d)) !== null) {
    const n = parseFloat(m[1]);
    total += m[2] === 'ms' ? n / 1000 : m[2] === 's' ? n : m[2] === 'm' ? n * 60 : n * 3600;
    matched += m[0];
  }
  if (matched !== d) throw new Error(`duration ${d}: want e.g. 30s, 2m, 1m30s`);
  return total;
}

// thresholds builds the per-endpoint SLA thresholds for the routes a
// scenario uses. abortOnFail stops the run at the first breach (breakpoint).
export function thresholds(routes, opts = {}) {
  const t = {
    checks: [`rate>${CHECKS_RATE}`],
  };
  for (const r of routes) {
    const s = SLA[r];
    const lat = [`p(95)<${s.p95}`, `p(99)<${s.p99}`];
    const err = [`rate<${s.errors}`];
    if (opts.abortOnFail) {
      const wrap = (th) => ({ threshold: th, abortOnFail: true, delayAbortEval: opts.delayAbortEval || '10s' });
      t[`http_req_duration{name:${r}}`] = lat.map(wrap);
      t[`http_req_failed{name:${r}}`] = err.map(wrap);
    } else {
      t[`http_req_duration{name:${r}}`] = lat;
      t[`http_req_failed{name:${r}}`] = err;
    }
  }
  return t;
}

// Options every scenario shares. Run tags (testid, test_type, environment)
// come from the Go runner's --tag flags.
export function baseOptions(scenarios, routes, opts = {}) {
  return {
    scenarios,
    thresholds: thresholds(routes, opts),
    summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'],
    discardResponseBodies: false,
    userAgent: 'loadlens-k6/1',
    noConnectionReuse: false,
  };
}

export function randomInt(min, max) {
  return min + Math.floor(Math.random() * (max - min + 1));
}

// Popularity skew of single-item reads, as in real traffic: HOT_SHARE of
// them (default 0.8) go to the HOT_IDS most popular ids (default 100), the
// rest anywhere in 1..max. HOT_SHARE=0 gives uniform ids, where a cache can
// hardly help.
const HOT_SHARE = floatEnv('HOT_SHARE', 0.8);
const HOT_IDS = intEnv('HOT_IDS', 100);

export function popularId(max) {
  if (Math.random() < HOT_SHARE) return randomInt(1, Math.min(HOT_IDS, max));
  return randomInt(1, max);
}

const JSON_HEADERS = { 'Content-Type': 'application/json' };

function params(name) {
  return { headers: JSON_HEADERS, tags: { name }, responseType: 'text' };
}

function checkStatus(res, route, want) {
  return check(res, { [`${route} is ${want}`]: (r) => r.status === want });
}

export function getUser(id = popularId(USERS)) {
  const res = http.get(`${BASE_URL}/users/${id}`, params(ROUTES.getUser));
  checkStatus(res, ROUTES.getUser, 200);
  return res;
}

export function patchUser(id = randomInt(1, USERS)) {
  const body = JSON.stringify({ email: `user${id}.${Date.now() % 100000}@example.com` });
  const res = http.patch(`${BASE_URL}/users/${id}`, body, params(ROUTES.patchUser));
  checkStatus(res, ROUTES.patchUser, 200);
  return res;
}

export function listUsers(limit = 20) {
  const cursor = randomInt(0, Math.max(0, USERS - limit));
  const res = http.get(`${BASE_URL}/users?limit=${limit}&cursor=${cursor}`, params(ROUTES.listUsers));
  checkStatus(res, ROUTES.listUsers, 200);
  return res;
}

export function createPost(userId = randomInt(1, USERS)) {
  const body = JSON.stringify({ user_id: userId, title: `load test ${__VU}-${__ITER}`, body: 'written by k6' });
  const res = http.post(`${BASE_URL}/posts`, body, params(ROUTES.createPost));
  check(res, { [`${ROUTES.createPost} is 201`]: (r) => r.status === 201 || r.status === 200 });
  return res;
}

export function getPost(id = popularId(POSTS)) {
  const res = http.get(`${BASE_URL}/posts/${id}`, params(ROUTES.getPost));
  checkStatus(res, ROUTES.getPost, 200);
  return res;
}

export function listPosts(limit = 20) {
  const res = http.get(`${BASE_URL}/posts?user_id=${randomInt(1, USERS)}&limit=${limit}`, params(ROUTES.listPosts));
  checkStatus(res, ROUTES.listPosts, 200);
  return res;
}

// Request mixes: weighted lists of [weight, function, route].
export const MIXES = Object.freeze({
  // browse: mostly reads over every route, a few writes (smoke, load, stress...).
  browse: [
    [40, getUser, ROUTES.getUser],
    [25, getPost, ROUTES.getPost],
    [10, listUsers, ROUTES.listUsers],
    [15, listPosts, ROUTES.listPosts],
    [5, patchUser, ROUTES.patchUser],
    [5, createPost, ROUTES.createPost],
  ],
  // read-heavy: 90% GET, 10% PATCH.
  readHeavy: [
    [90, getUser, ROUTES.getUser],
    [10, patchUser, ROUTES.patchUser],
  ],
  // write-heavy: 10% GET, 90% PATCH.
  writeHeavy: [
    [10, getUser, ROUTES.getUser],
    [90, patchUser, ROUTES.patchUser],
  ],
});

export function mixRoutes(mix) {
  return mix.map((m) => m[2]);
}

// pick runs one request drawn from the weighted mix.
export function pick(mix) {
  let total = 0;
  for (const m of mix) total += m[0];
  let r = Math.random() * total;
  for (const m of mix) {
    r -= m[0];
    if (r < 0) return m[1]();
  }
  return mix[mix.length - 1][1]();
}

// think pauses between iterations (SLEEP seconds, default given by the scenario).
export function think(def) {
  const s = floatEnv('SLEEP', def);
  if (s > 0) sleep(s);
}
