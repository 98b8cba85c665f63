// Drives the official Elastic Path JavaScript SDK (@elasticpath/js-sdk) against a local stratad.
//
//   STRATA_HOST=127.0.0.1:PORT EP_CLIENT_ID=.. EP_CLIENT_SECRET=.. EP_RATE_LIMIT=100 node check.js
//
// The store of EP_CLIENT_ID must start without application keys and have the rate limit
// EP_RATE_LIMIT. The SDK runs as shipped for Node: its default fetch (cross-fetch), over plain
// http (`protocol: 'http'`), with in-memory token storage. Exits 0 when every result matches,
// 1 at the first mismatch. See docs/sdk-checks.md.
'use strict';

const assert = require('node:assert/strict');
const { gateway, MemoryStorageFactory } = require('@elasticpath/js-sdk');

const HOST = required('STRATA_HOST');
const CLIENT_ID = required('EP_CLIENT_ID');
const CLIENT_SECRET = required('EP_CLIENT_SECRET');
const RATE_LIMIT = Number(required('EP_RATE_LIMIT'));
// Server and client share a clock, but a slow CI machine may take a while between the call
// and our own reading of the time.
const CLOCK_SLACK_SECS = 60;
// Elastic Path's token lifetime, as Strata issues it.
const TOKEN_TTL_SECS = 3600;
// The SDK waits `attempt * retryDelay + jitter` ms before retrying a 401/429; keep it short.
const RETRY_DELAY_MS = 10;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const RFC3339_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const ALNUM_42 = /^[A-Za-z0-9]{42}$/;

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} must be set`);
    process.exit(2);
  }
  return value;
}

function ok(what) {
  console.log(`ok   ${what}`);
}

let clients = 0;
function client(clientId, clientSecret) {
  clients += 1;
  return gateway({
    client_id: clientId,
    client_secret: clientSecret,
    host: HOST,
    protocol: 'http',
    // Each gateway keeps its own token (the default storage key is shared by name).
    name: `sdk-check-${clients}`,
    storage: new MemoryStorageFactory(),
    retryDelay: RETRY_DELAY_MS,
    retryJitter: 1,
  });
}

/** The SDK rejects with the parsed error body: `{errors: [{title, status, detail}]}`. */
async function expectError(promise, status, detail, what) {
  let body;
  try {
    body = await promise;
  } catch (e) {
    assert.ok(Array.isArray(e && e.errors), `${what}: expected an error body, got ${JSON.stringify(e)}`);
    assert.equal(e.errors.length, 1, `${what}: one error`);
    assert.equal(e.errors[0].status, String(status), `${what}: status (${JSON.stringify(e)})`);
    if (detail !== undefined) assert.equal(e.errors[0].detail, detail, `${what}: detail`);
    return e.errors[0];
  }
  assert.fail(`${what}: expected an error ${status}, got ${JSON.stringify(body)}`);
}

function assertKey(key, expected, what) {
  assert.match(key.id, UUID, `${what}: id`);
  assert.equal(key.type, 'application_key', `${what}: type`);
  assert.equal(key.name, expected.name, `${what}: name`);
  assert.equal(key.reserved_rate_limit, expected.reserved_rate_limit, `${what}: reserved_rate_limit`);
  assert.match(key.client_id, ALNUM_42, `${what}: client_id`);
  if (expected.withSecret) {
    assert.match(key.client_secret, ALNUM_42, `${what}: client_secret`);
  } else {
    assert.equal('client_secret' in key, false, `${what}: no client_secret`);
  }
  const t = key.meta.timestamps;
  assert.match(t.created_at, RFC3339_MS, `${what}: created_at`);
  assert.match(t.updated_at, RFC3339_MS, `${what}: updated_at`);
  assert.ok(t.updated_at >= t.created_at, `${what}: updated_at >= created_at`);
  assert.equal(key.links.self, `http://${HOST}/v2/application-keys/${key.id}`, `${what}: links.self`);
}

async function main() {
  const admin = client(CLIENT_ID, CLIENT_SECRET);

  // client_credentials token.
  const now = Math.floor(Date.now() / 1000);
  const auth = await admin.Authenticate();
  assert.match(auth.access_token, /^[0-9a-f]{40}$/, 'access_token');
  assert.equal(auth.token_type, 'Bearer');
  assert.equal(auth.expires_in, TOKEN_TTL_SECS);
  assert.equal(auth.identifier, 'client_credentials');
  assert.ok(Math.abs(auth.expires - (now + TOKEN_TTL_SECS)) <= CLOCK_SLACK_SECS, `expires ${auth.expires}`);
  ok('Authenticate: client_credentials token');

  await expectError(
    client(CLIENT_ID, 'wrong-secret').Authenticate(),
    401,
    'invalid client_id or client_secret',
    'wrong secret',
  );
  ok('Authenticate with a wrong secret is refused (401)');

  // Create: the secret appears only here.
  const a = (await admin.ApplicationKeys.Create({ type: 'application_key', name: 'sdk key A', reserved_rate_limit: 10 })).data;
  assertKey(a, { name: 'sdk key A', reserved_rate_limit: 10, withSecret: true }, 'Create A');
  assert.equal(a.meta.timestamps.last_used_at, null, 'Create A: last_used_at');
  const b = (await admin.ApplicationKeys.Create({ type: 'application_key', name: 'sdk key B — ünïcødé' })).data;
  assertKey(b, { name: 'sdk key B — ünïcødé', reserved_rate_limit: 0, withSecret: true }, 'Create B');
  ok('Create (with and without reserved_rate_limit)');

  // List: creation order, pagination, totals.
  let list = await admin.ApplicationKeys.Limit(1).Offset(0).All();
  assert.deepEqual(list.data.map((k) => k.id), [a.id], 'All limit=1 offset=0');
  assertKey(list.data[0], { name: 'sdk key A', reserved_rate_limit: 10 }, 'All: A');
  assert.deepEqual(list.meta.page, { limit: 1, offset: 0, current: 1, total: 2 }, 'All: meta.page');
  assert.equal(list.meta.results.total, 2, 'All: meta.results.total');
  assert.equal(list.meta.total_reserved_rate_limit, 10, 'All: total_reserved_rate_limit');
  assert.equal(list.links.prev, null, 'All: links.prev');
  assert.ok(list.links.next, 'All: links.next');
  list = await admin.ApplicationKeys.Limit(1).Offset(1).All();
  assert.deepEqual(list.data.map((k) => k.id), [b.id], 'All limit=1 offset=1');
  assert.equal(list.links.next, null, 'All offset=1: links.next');
  list = await admin.ApplicationKeys.Limit(25).All();
  assert.deepEqual(list.data.map((k) => k.id), [a.id, b.id], 'All limit=25');
  ok('All (Limit, Offset, meta, links; no client_secret)');

  // Get.
  let got = (await admin.ApplicationKeys.Get(a.id)).data;
  assertKey(got, { name: 'sdk key A', reserved_rate_limit: 10 }, 'Get A');
  assert.equal(got.client_id, a.client_id, 'Get A: client_id');
  await expectError(admin.ApplicationKeys.Get('00000000-0000-4000-8000-000000000000'), 404, 'application key not found', 'Get unknown');
  ok('Get (and 404 for an unknown id)');

  // Update.
  const updated = (await admin.ApplicationKeys.Update(a.id, { type: 'application_key', name: 'sdk key A renamed', reserved_rate_limit: 20 })).data;
  assertKey(updated, { name: 'sdk key A renamed', reserved_rate_limit: 20 }, 'Update A');
  assert.equal(updated.meta.timestamps.created_at, a.meta.timestamps.created_at, 'Update A: created_at kept');
  got = (await admin.ApplicationKeys.Get(a.id)).data;
  assert.equal(got.name, 'sdk key A renamed', 'Get after Update: name');
  assert.equal(got.reserved_rate_limit, 20, 'Get after Update: reserved_rate_limit');
  ok('Update');

  // Budget and validation errors reach the caller as the error body; nothing changes.
  await expectError(
    admin.ApplicationKeys.Create({ type: 'application_key', name: 'too big', reserved_rate_limit: RATE_LIMIT - 20 + 1 }),
    409,
    'requested reserved rate limit will exceed the maximum',
    'Create over budget',
  );
  await expectError(
    admin.ApplicationKeys.Update(b.id, { type: 'application_key', reserved_rate_limit: RATE_LIMIT }),
    409,
    'requested reserved rate limit will exceed the maximum',
    'Update over budget',
  );
  await expectError(admin.ApplicationKeys.Create({ type: 'application_key', name: '' }), 400, "The field 'name' must not be empty.", 'Create empty name');
  await expectError(
    admin.ApplicationKeys.Create({ type: 'application_key', name: 'x', reserved_rate_limit: -1 }),
    400,
    "The field 'reserved_rate_limit' must be greater than or equal to 0.",
    'Create negative reserved_rate_limit',
  );
  list = await admin.ApplicationKeys.Limit(25).All();
  assert.equal(list.meta.results.total, 2, 'total after refused writes');
  assert.equal(list.meta.total_reserved_rate_limit, 20, 'budget after refused writes');
  ok('over-budget (409) and invalid (400) writes are refused and change nothing');

  // A created key's credentials work like the admin's, and stamp last_used_at.
  const keyClient = client(a.client_id, a.client_secret);
  list = await keyClient.ApplicationKeys.Limit(25).All();
  assert.deepEqual(list.data.map((k) => k.id), [a.id, b.id], 'All with the key A token');
  got = (await admin.ApplicationKeys.Get(a.id)).data;
  assert.match(String(got.meta.timestamps.last_used_at), RFC3339_MS, 'last_used_at after use');
  ok("a created key's credentials obtain a token that manages the store; last_used_at is set");

  // Delete: the SDK resolves an empty 204 body to its fallback, the string '{}'. The key, its
  // credentials and its tokens are gone.
  const deleted = await admin.ApplicationKeys.Delete(a.id);
  assert.equal(deleted, '{}', 'Delete result');
  await expectError(admin.ApplicationKeys.Get(a.id), 404, 'application key not found', 'Get after Delete');
  await expectError(admin.ApplicationKeys.Delete(a.id), 404, 'application key not found', 'Delete twice');
  // The SDK re-authenticates on the 401, and that is refused too.
  await expectError(keyClient.ApplicationKeys.Limit(25).All(), 401, 'invalid client_id or client_secret', "deleted key's client");
  await admin.ApplicationKeys.Delete(b.id);
  list = await admin.ApplicationKeys.All();
  assert.deepEqual(list.data, [], 'All after deleting both');
  assert.equal(list.meta.results.total, 0, 'total after deleting both');
  assert.equal(list.meta.total_reserved_rate_limit, 0, 'budget after deleting both');
  ok("Delete (then 404; the deleted key's tokens and credentials are refused)");
}

main().then(
  () => console.log('elasticpath: all checks passed'),
  (e) => {
    console.log(`FAIL ${e && e.message ? e.message : JSON.stringify(e)}`);
    process.exitCode = 1;
  },
);
