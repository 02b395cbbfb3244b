// The pool cases of tests/integration/pool_kinds_test.cpp, run with the real
// node-postgres Pool (npm's pg 8, pinned by package-lock.json) against a real
// server.
//
// Usage: node node_pg_cases.js DSN ADMIN_DSN CASE APP
// Prints one JSON object with the figures the test compares with pgleak's
// model of the same pool (src/pool/node_pg_pool.hpp).
'use strict';
const { Client, Pool } = require('pg');

const [dsn, adminDsn, name, app] = process.argv.slice(2);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let admin;

async function backends(state) {
  const r = await admin.query(
    'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1' +
      (state ? ' AND state = $2' : ''),
    state ? [app, state] : [app]);
  return r.rows[0].n;
}

function pool(options) {
  const p = new Pool({ connectionString: dsn, application_name: app, ...options });
  p.on('error', () => {});  // an idle client's error: the pool has removed it
  return p;
}

// n counts of backends(), one per step (ms) after start (performance.now()):
// a count that takes a while to read does not shift the ones after it.
async function onGrid(start, step, n) {
  const counts = [];
  for (let i = 1; i <= n; i++) {
    await sleep(Math.max(0, start + i * step - performance.now()));
    counts.push(await backends());
  }
  return counts;
}

async function pid(client) {
  return (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
}

const cases = {
  async fill() {
    const p = pool({ max: 4 });
    await sleep(1000);
    const out = { backends: await backends() };
    await p.end();
    return out;
  },
  async exhaust() {
    const p = pool({ max: 2, connectionTimeoutMillis: 500 });
    const held = [await p.connect(), await p.connect()];
    const t0 = Date.now();
    let message = null;
    try {
      await p.connect();
    } catch (e) {
      message = e.message;
    }
    const waited = Date.now() - t0;
    held.forEach((c) => c.release());
    await p.end();
    return { message, waited_ms: waited };
  },
  async killed() {
    const p = pool({ max: 1 });
    let c = await p.connect();
    const first = await pid(c);
    c.release();
    await admin.query('SELECT pg_terminate_backend($1)', [first]);
    await sleep(700);
    c = await p.connect();
    let seen = 'ok';
    let replaced = false;
    try {
      replaced = (await pid(c)) !== first;
      c.release();
    } catch (e) {
      seen = 'error';
      c.release(e);
      c = await p.connect();
      replaced = (await pid(c)) !== first;
      c.release();
    }
    await p.end();
    return { first_use: seen, then_replaced: replaced };
  },
  async refused() {
    const p = pool({ max: 1 });
    const t0 = Date.now();
    let sqlstate = null;
    try {
      await p.connect();
    } catch (e) {
      sqlstate = e.code || null;
    }
    const waited = Date.now() - t0;
    await p.end();
    return { sqlstate, waited_ms: waited };
  },
  async in_transaction() {
    const p = pool({ max: 1 });
    let c = await p.connect();
    const first = await pid(c);
    await c.query('BEGIN');
    c.release();
    const idleInTransaction = await backends('idle in transaction');
    c = await p.connect();
    const same = (await pid(c)) === first;
    c.release();
    await p.end();
    return { same_connection: same, idle_in_transaction: idleInTransaction };
  },
  // Past its life: idle, closed then; in use, at release.
  async lifetime() {
    const p = pool({ max: 1, maxLifetimeSeconds: 0.5 });
    let c = await p.connect();
    const first = await pid(c);
    c.release();
    await sleep(800);
    const idleLeft = await backends();
    c = await p.connect();
    const replaced = (await pid(c)) !== first;
    await sleep(800);
    c.release();
    await sleep(100);
    const busyLeft = await backends();
    await p.end();
    return { idle_left: idleLeft, replaced, busy_left: busyLeft };
  },
  async idle() {
    const p = pool({ max: 3, idleTimeoutMillis: 1000 });
    const held = [await p.connect(), await p.connect(), await p.connect()];
    held.forEach((c) => c.release());
    const counts = await onGrid(performance.now(), 250, 10);
    await p.end();
    return { counts };
  },
};

(async () => {
  admin = new Client({ connectionString: adminDsn });
  await admin.connect();
  if (!cases[name]) throw new Error(`unknown case ${name}`);
  console.log(JSON.stringify(await cases[name]()));
  await admin.end();
})().catch((e) => {
  console.error(e);
  process.exit(2);
});
