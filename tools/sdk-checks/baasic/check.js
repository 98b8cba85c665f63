// Drives the official Baasic JavaScript SDK (baasic-sdk-javascript) against a local stratad.
//
//   STRATA_HOST=127.0.0.1:PORT BAASIC_API_KEY=.. BAASIC_USERNAME=.. BAASIC_PASSWORD=.. node check.js
//
// With BAASIC_PAGE_ORIGIN=http://app.example.test the page lives on another origin (every call
// is a CORS request, preflights included, which jsdom enforces) and the app uses the SDK's
// default apiVersion, i.e. the /v1/{apiKey}/ prefix: a browser app as the SDK's README sets it up.
//
// The application must start without key-value resources. Exits 0 when every result matches,
// 1 at the first mismatch. See docs/sdk-checks.md.
//
// The SDK is a browser library: its published bundle (the package's `main`) is a webpack UMD
// file whose wrapper reads the global `window` at load time, and it expects `Reflect.getMetadata`
// (reflect-metadata), jQuery (`$.ajax`, `$.Deferred`), `document` / `CustomEvent` (token events)
// and `localStorage` (token storage) as browser globals. Its other build, `build/lib`, does not
// load in Node either (`require("core")`, a webpack alias). So this check runs the bundle as a
// page would, per the SDK's README: inside a jsdom window, with reflect-metadata and jQuery
// loaded as scripts first. All HTTP goes through the SDK's default client (jQuery.ajax over
// jsdom's XMLHttpRequest); by default the page's origin is the server's (no CORS; see BAASIC_PAGE_ORIGIN).
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const { JSDOM } = require('jsdom');

const HOST = required('STRATA_HOST');
const API_KEY = required('BAASIC_API_KEY');
const USERNAME = required('BAASIC_USERNAME');
const PASSWORD = required('BAASIC_PASSWORD');
const PAGE_ORIGIN = process.env.BAASIC_PAGE_ORIGIN || '';

const ID = /^[0-9a-f]{32}$/;
const RFC3339_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
// The scripts a page includes before using the SDK (its README), in order.
const PAGE_SCRIPTS = [
  require.resolve('reflect-metadata/Reflect.js'),
  require.resolve('jquery/dist/jquery.js'),
  require.resolve('baasic-sdk-javascript'),
];

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

/** A browser page on the server's origin with the SDK loaded; returns its window. */
function page() {
  const dom = new JSDOM('<!doctype html><html><head></head><body></body></html>', {
    url: PAGE_ORIGIN ? `${PAGE_ORIGIN}/` : `http://${HOST}/`,
    runScripts: 'outside-only',
  });
  for (const file of PAGE_SCRIPTS) dom.window.eval(fs.readFileSync(file, 'utf8'));
  return dom.window;
}

/** A copy made in this realm: objects from the page's realm fail strict deep equality. */
function plain(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

/**
 * The SDK answers with jQuery promises of `{statusCode, data, headers, ...}`; this resolves to
 * `{statusCode, data}`, and rejects with the same shape for an error response.
 */
function call(jqPromise) {
  return new Promise((resolve, reject) =>
    jqPromise.then(
      (r) => resolve({ statusCode: r.statusCode, data: plain(r.data) }),
      (e) => reject(e && e.statusCode !== undefined ? { statusCode: e.statusCode, data: plain(e.data) } : e),
    ),
  );
}

/** The SDK rejects with `{statusCode, data: <error body>}`. */
async function expectError(jqPromise, statusCode, errorCode, what) {
  let response;
  try {
    response = await call(jqPromise);
  } catch (e) {
    assert.equal(e.statusCode, statusCode, `${what}: status (${JSON.stringify(e)})`);
    const body = e.data;
    assert.deepEqual(Object.keys(body).sort(), ['details', 'error', 'errorCode', 'message'], `${what}: error fields`);
    assert.equal(body.errorCode, errorCode, `${what}: errorCode`);
    return body;
  }
  assert.fail(`${what}: expected an error ${statusCode}, got ${response.statusCode} ${JSON.stringify(response.data)}`);
}

function assertResource(r, key, value, what) {
  assert.match(r.id, ID, `${what}: id`);
  assert.equal(r.key, key, `${what}: key`);
  assert.equal(r.value, value, `${what}: value`);
  assert.match(r.dateCreated, RFC3339_MS, `${what}: dateCreated`);
  assert.match(r.dateUpdated, RFC3339_MS, `${what}: dateUpdated`);
  const href = `/${API_KEY}/key-values/${r.id}`;
  for (const rel of ['self', 'put', 'delete']) {
    assert.deepEqual(r._links[rel], { href, templated: false }, `${what}: _links.${rel}`);
  }
}

async function main() {
  const window = page();
  try {
    await run(window);
  } finally {
    window.close();
  }
}

async function run(window) {
  const sdk = window.baasicSdkJavaScript;
  assert.ok(sdk && sdk.BaasicApp, 'the bundle defines baasicSdkJavaScript.BaasicApp');
  // Documented options: the host, plain http, and either no `v1` path prefix (Strata serves
  // /{apiKey}/ at the root) or, cross-origin, the SDK's default `v1` (Strata's alias).
  const app = PAGE_ORIGIN
    ? new sdk.BaasicApp(API_KEY, { apiRootUrl: HOST, useSSL: false })
    : new sdk.BaasicApp(API_KEY, { apiRootUrl: HOST, apiVersion: '', useSSL: false });
  const apiUrl = PAGE_ORIGIN ? `http://${HOST}/v1/${API_KEY}/` : `http://${HOST}/${API_KEY}/`;
  assert.equal(app.getApiUrl(), apiUrl, 'API URL');
  const kv = app.keyValueModule;

  // Without a token every call is refused.
  await expectError(kv.find({}), 401, 4010, 'find before login');
  ok('calls before login are refused (401)');

  // Login (OAuth password grant, form-encoded by the SDK).
  await expectError(app.membershipModule.login.login({ username: USERNAME, password: 'wrong' }), 400, 4005, 'login with a wrong password');
  const login = await call(app.membershipModule.login.login({ username: USERNAME, password: PASSWORD }));
  assert.equal(login.statusCode, 200, 'login status');
  assert.match(login.data.access_token, /^[0-9a-f]{64}$/, 'access_token');
  assert.equal(login.data.token_type, 'bearer', 'token_type');
  assert.equal(login.data.expires_in, 3600, 'expires_in');
  assert.equal(app.getAccessToken().token, login.data.access_token, 'the SDK stored the token');
  ok('login (a wrong password is 400 invalid_grant)');

  // Create.
  const tricky = 'Ünïcødé ✓ & = + %20 / ?';
  const created = [];
  for (const [key, value] of [['sdk-alpha', 'first'], ['sdk beta/ü', tricky], ['other', 'x']]) {
    const r = await call(kv.create({ key, value }));
    assert.equal(r.statusCode, 201, `create ${key}: status`);
    assertResource(r.data, key, value, `create ${key}`);
    assert.equal(r.data.dateCreated, r.data.dateUpdated, `create ${key}: dates`);
    created.push(r.data);
  }
  const [alpha, beta, other] = created;
  await expectError(kv.create({ key: 'sdk-alpha', value: 'again' }), 409, 4090, 'create a duplicate key');
  await expectError(kv.create({ key: '', value: 'v' }), 400, 4001, 'create with an empty key');
  ok('create (and 409 for a duplicate key, 400 for an empty one)');

  // Get by id and by key.
  let r = await call(kv.get(beta.id));
  assert.equal(r.statusCode, 200, 'get by id: status');
  assert.deepEqual(r.data, beta, 'get by id');
  r = await call(kv.get('sdk-alpha'));
  assert.deepEqual(r.data, alpha, 'get by key');
  await expectError(kv.get('no-such-key'), 404, 4040, 'get an unknown key');
  ok('get (by id, by key, 404)');

  // Find: search, paging, sort (the SDK joins several sort fields with ", ").
  r = await call(kv.find({ search: 'SDK', pageNumber: 1, pageSize: 1, orderBy: 'key', orderDirection: 'desc' }));
  assert.equal(r.statusCode, 200, 'find: status');
  // Byte order: ' ' (0x20) sorts before '-' (0x2d).
  assert.deepEqual(r.data.item.map((i) => i.key), ['sdk-alpha'], 'find page 1');
  assert.equal(r.data.page, 1, 'find: page');
  assert.equal(r.data.recordsPerPage, 1, 'find: recordsPerPage');
  assert.equal(r.data.totalRecords, 2, 'find: totalRecords');
  assert.equal(r.data.searchQuery, 'SDK', 'find: searchQuery');
  assert.equal(r.data.sort, 'key|desc', 'find: sort');
  assert.ok(r.data._links.next, 'find: _links.next');
  r = await call(kv.find({ search: 'SDK', pageNumber: 2, pageSize: 1, orderBy: 'key', orderDirection: 'desc' }));
  assert.deepEqual(r.data.item.map((i) => i.key), ['sdk beta/ü'], 'find page 2');
  r = await call(kv.find({ search: 'ünïcødé ✓' }));
  assert.deepEqual(r.data.item.map((i) => i.id), [beta.id], 'find by a value, case-insensitive');
  r = await call(kv.find({ orderBy: 'value,key', orderDirection: 'desc,asc', pageSize: 10 }));
  assert.equal(r.data.sort, 'value|desc, key|asc', 'find: two sort fields');
  // Byte order of UTF-8: 'Ü' (0xc3 0x9c) > 'x' > 'f'.
  assert.deepEqual(r.data.item.map((i) => i.key), ['sdk beta/ü', 'other', 'sdk-alpha'], 'find sorted by value desc');
  ok('find (search, pageNumber, pageSize, orderBy/orderDirection)');

  // Update: the SDK PUTs the whole resource it read.
  r = await call(kv.get(alpha.id));
  const resource = r.data;
  resource.key = 'sdk-alpha-renamed';
  resource.value = 'second';
  r = await call(kv.update(resource));
  assert.equal(r.statusCode, 204, 'update: status');
  r = await call(kv.get(alpha.id));
  assertResource(r.data, 'sdk-alpha-renamed', 'second', 'get after update');
  assert.equal(r.data.dateCreated, alpha.dateCreated, 'update keeps dateCreated');
  assert.ok(r.data.dateUpdated >= alpha.dateUpdated, 'update moves dateUpdated');
  await expectError(kv.get('sdk-alpha'), 404, 4040, 'the old key after a rename');
  const renamed = r.data;
  renamed.key = 'other';
  await expectError(kv.update(renamed), 409, 4090, 'rename onto a key in use');
  r = await call(kv.get(alpha.id));
  assert.equal(r.data.key, 'sdk-alpha-renamed', 'a refused rename changes nothing');
  ok('update (value and key; 409 when the new key is in use)');

  // Remove (the SDK addresses it by the resource's id).
  r = await call(kv.remove(other));
  assert.equal(r.statusCode, 204, 'remove: status');
  await expectError(kv.get(other.id), 404, 4040, 'get after remove');
  await expectError(kv.remove(other), 404, 4040, 'remove twice');
  r = await call(kv.find({}));
  assert.deepEqual(r.data.item.map((i) => i.key).sort(), ['sdk beta/ü', 'sdk-alpha-renamed'], 'find after remove');
  assert.equal(r.data.totalRecords, 2, 'totalRecords after remove');
  ok('remove (then 404)');

  // A rejected token: the SDK drops the token it holds when the 401 body says invalid_token.
  const token = app.getAccessToken();
  app.updateAccessToken({ access_token: 'not-a-valid-token', token_type: 'bearer', expires_in: 3600 });
  await expectError(kv.find({}), 401, 4010, 'find with an invalid token');
  assert.equal(app.getAccessToken() == null, true, 'the SDK forgot the rejected token');
  ok('a rejected token is dropped by the SDK (401 details: invalid_token)');

  // Logout revokes the token on the server.
  app.updateAccessToken({ access_token: token.token, token_type: token.type, expires_in: 3600 });
  r = await call(kv.find({}));
  assert.equal(r.statusCode, 200, 'find with the restored token');
  r = await call(app.membershipModule.login.logout(token.token, token.type));
  assert.equal(r.statusCode, 204, 'logout: status');
  assert.equal(app.getAccessToken() == null, true, 'logout forgets the token');
  app.updateAccessToken({ access_token: token.token, token_type: token.type, expires_in: 3600 });
  await expectError(kv.find({}), 401, 4010, 'find with the revoked token');
  ok('logout revokes the token');
}

// Exits explicitly: jsdom may keep idle keep-alive sockets open.
main().then(
  () => {
    console.log('baasic: all checks passed');
    process.exit(0);
  },
  (e) => {
    console.log(`FAIL ${e && e.message ? e.message : JSON.stringify(e)}`);
    process.exit(1);
  },
);
