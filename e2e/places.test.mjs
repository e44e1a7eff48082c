// The studio's Places page, in real Chromium against the real binary: a place found
// by name (its candidates listed, one chosen) and a point given by coordinates (the
// nearest town said) are saved with a label, listed with their nearest place, and
// deleted; a name that matches nothing and coordinates out of range are said in
// words. The page passes axe-core's WCAG 2 AA checks and logs no console error.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { DESKTOP, PHONE, accessibilityViolations, api, launch, screenshot, startServer } from './harness.mjs';

const PASSWORD = 'a long enough password';
let server;
const browsers = [];

before(async () => {
  server = await startServer();
  await api(server, 'PUT', '/api/v1/me/password', { new_password: PASSWORD });
});

after(async () => {
  for (const browser of browsers) await browser.close();
  await server?.stop();
});

async function open(viewport, options = {}) {
  const launched = await launch({ viewport, ...options });
  browsers.push(launched.browser);
  return launched;
}

async function signIn(page, route) {
  await page.goto(`${server.url}/#/${route}`);
  await page.locator('#sign-in-form').waitFor();
  await page.fill('[name=email]', 'admin@localhost');
  await page.fill('[name=password]', PASSWORD);
  await page.click('#sign-in-form button[type=submit]');
}

test('places: found by name or by coordinates, saved with a label, listed and deleted', async () => {
  const { page, consoleErrors, failures } = await open(DESKTOP);
  await signIn(page, 'places');
  await page.locator('#place-form').waitFor();
  assert.equal(await page.locator('[data-nav=places]').getAttribute('aria-current'), 'page');
  await page.getByText('No places saved yet.').waitFor();
  assert.equal(await page.locator('#place-save').isDisabled(), true, 'nothing to save yet');

  // A name that matches nothing, then one with candidates.
  await page.click('#place-find');
  assert.match(await page.locator('#place-query-error').innerText(), /Type a place name/);
  await page.fill('#place-query', 'Xyzzyqwv');
  await page.press('#place-query', 'Enter');
  await page.getByText('No place is called that.').waitFor();
  await page.fill('#place-query', 'Paris');
  await page.click('#place-find');
  await page.locator('#place-candidates:not([hidden]) .choice').first().waitFor();
  const names = await page.locator('#place-candidates .choice strong').allInnerTexts();
  assert.ok(names.some((name) => /^Paris, .*France$/.test(name)), JSON.stringify(names));
  const france = names.findIndex((name) => /^Paris, .*France$/.test(name));
  await page.locator('#place-candidates .choice').nth(france).click();
  assert.match(await page.locator('#place-resolved').innerText(), /Paris, .*France · 48\.\d{4}° N, 2\.\d{4}° E/);
  await page.fill('#place-label', 'The trip');
  await page.click('#place-save');
  const paris = page.locator('#places-list .place-row', { hasText: 'The trip' });
  await paris.waitFor();
  assert.match(await paris.locator('[data-place]').innerText(), /^Paris, .*France/);
  // The best candidate is saved as the name searched; another one by its coordinates.
  assert.match(await paris.innerText(), france === 0 ? /from a place name/ : /from coordinates/);

  // Coordinates: out of range said at the field, then the nearest town.
  await page.locator('#place-mode label', { hasText: 'By coordinates' }).click();
  assert.equal(await page.locator('#place-by-name').isHidden(), true);
  await page.fill('#place-latitude', '95');
  await page.fill('#place-longitude', '139.76');
  await page.click('#place-look-up');
  assert.match(await page.locator('#place-latitude-error').innerText(), /from -90 to 90/);
  assert.equal(await page.locator('#place-latitude').getAttribute('aria-invalid'), 'true');
  await page.fill('#place-latitude', '35.68');
  await page.click('#place-look-up');
  await page.locator('#place-resolved strong').waitFor();
  assert.match(await page.locator('#place-resolved').innerText(), /Tokyo.*Japan · 35\.6800° N, 139\.7600° E · nearest place: Tokyo, [\d.]+ km away/s);
  await page.click('#place-save');
  const tokyo = page.locator('#places-list .place-row', { hasText: 'Tokyo' });
  await tokyo.waitFor();
  assert.equal(await page.locator('#places-list .place-row').count(), 2);
  const { locations } = await api(server, 'GET', '/api/v1/locations');
  assert.deepEqual(locations.map((location) => location.place.country_code), ['JP', 'FR']);
  assert.equal(locations[1].label, 'The trip');
  assert.equal(locations[1].place.name, 'Paris');
  assert.deepEqual([locations[0].latitude, locations[0].longitude], [35.68, 139.76]);

  await screenshot(page, 'places-01');
  assert.deepEqual(await accessibilityViolations(page), [], 'accessibility of the Places page');

  // Deleted, after asking.
  await tokyo.locator('[data-action=delete-location]').click();
  await page.locator('dialog.confirm .btn.danger').click();
  await tokyo.waitFor({ state: 'detached' });
  assert.equal((await api(server, 'GET', '/api/v1/locations')).locations.length, 1);
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(failures, []);
});

test('places on a phone in the dark theme', async () => {
  const { page, consoleErrors, failures } = await open(PHONE, { colorScheme: 'dark' });
  await signIn(page, 'places');
  await page.locator('#places-list .place-row').first().waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
  await screenshot(page, 'places-02-phone-dark');
  assert.deepEqual(await accessibilityViolations(page), []);
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(failures, []);
});
