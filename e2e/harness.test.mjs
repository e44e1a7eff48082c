// The harness's own test: the real server starts, answers with the admin key, creates
// a user, and real Chromium renders a page it serves (the Swagger UI at /docs).

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';

import { DESKTOP, api, createUser, launch, nextTotpCode, screenshot, startServer, totpCode } from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the server starts on a fresh data dir with an admin key and a sign-in link', async () => {
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.match(server.adminKey, /\S{16,}/);
  assert.ok(server.signInLink?.startsWith(`${server.url}/api/v1/sessions/link?token=`), server.signInLink);
  const health = await api(server, 'GET', '/api/v1/health');
  assert.equal(typeof health, 'object');
  const me = await api(server, 'GET', '/api/v1/me');
  assert.equal(JSON.stringify(me).includes('admin@localhost'), true, JSON.stringify(me));
});

test('api() throws with the status on a refused call', async () => {
  await assert.rejects(api(server, 'GET', '/api/v1/me', undefined, 'not-a-key'), (error) => error.status === 401);
});

test('createUser makes a member', async () => {
  const user = await createUser(server, 'member@example.com', 'correct horse battery', 'member');
  assert.equal(user.email, 'member@example.com');
  assert.equal(user.role, 'member');
  assert.equal(user.disabled, false);
  const { users } = await api(server, 'GET', '/api/v1/users');
  assert.ok(users.some((listed) => listed.id === user.id));
});

test('Chromium renders the API docs the server serves', async () => {
  const launched = await launch({ viewport: DESKTOP });
  browser = launched.browser;
  const { page, consoleErrors } = launched;
  const response = await page.goto(`${server.url}/docs`, { waitUntil: 'load' });
  assert.equal(response?.status(), 200);
  await page.locator('.swagger-ui .info .title').first().waitFor({ timeout: 15_000 });
  assert.match(await page.title(), /swagger/i);
  assert.match(await page.locator('body').innerText(), /Atelier/);
  const file = await screenshot(page, 'harness-docs');
  assert.ok(existsSync(file));
  assert.deepEqual(consoleErrors, []);
});

test('oathtool gives 6-digit TOTP codes', async () => {
  const code = await totpCode('JBSWY3DPEHPK3PXP');
  assert.match(code, /^\d{6}$/);
  // A different code than one never given: returns at once.
  assert.match(await nextTotpCode('JBSWY3DPEHPK3PXP', 'used'), /^\d{6}$/);
});
