// The uploader (seed 003) in the studio, against providers that take input files:
// the server talks to the in-tree emulators (`atelier emulate openai|kie`, speaking
// each provider's protocol), so `openai/gpt-image-1` and `kie/veo-3` are usable and
// their file fields become drop zones. Files are picked and dropped, previewed,
// uploaded with progress, one is removed, and the edit runs with the other; for
// Kie, the 3-day expiry warning shows and the image-to-video task's video plays in
// the lightbox. Against a Kie whose copies are already 2.5 days old, the copy's
// expiry is shown on the task and, when the settings are reused, in the uploader.
// An upload made into a 3D relief (`local/relief`) opens in the lightbox's 3D viewer.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { DESKTOP, api, launch, screenshot, startEmulator, startServer, waitForTask } from './harness.mjs';

const KEY = 'e2e-openai-key';
let emulator;
let kie;
let server;
let browser;

before(async () => {
  emulator = await startEmulator('openai', KEY);
  kie = await startEmulator('kie', KEY);
  server = await startServer({
    env: {
      ATELIER__PROVIDERS__OPENAI__API_KEY: KEY,
      ATELIER__PROVIDERS__OPENAI__BASE_URL: `${emulator.url}/v1`,
      ATELIER__PROVIDERS__KIE__API_KEY: KEY,
      ATELIER__PROVIDERS__KIE__BASE_URL: kie.url,
      ATELIER__PROVIDERS__KIE__UPLOAD_BASE_URL: kie.url,
      ATELIER__PROVIDERS__KIE__FIRST_POLL_MS: '200',
    },
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  emulator?.child.kill('SIGTERM');
  kie?.child.kill('SIGTERM');
});

/** A real PNG to upload: a small output of the placeholder engine. */
async function placeholderPng(server) {
  const task = await api(server, 'POST', '/api/v1/tasks', {
    model: 'local/placeholder', input: { prompt: 'a cat to edit', width: 256, height: 256 },
  });
  const done = await waitForTask(server, task.task_id);
  assert.equal(done.status, 'completed');
  const response = await fetch(`${server.url}${done.images[0].url}`, { headers: { authorization: `Bearer ${server.adminKey}` } });
  assert.equal(response.status, 200);
  return Buffer.from(await response.arrayBuffer());
}

test('files are picked and dropped, previewed, uploaded with progress, and edited', async () => {
  const png = await placeholderPng(server);
  const launched = await launch({ viewport: DESKTOP });
  browser = launched.browser;
  const { page, consoleErrors, failures } = launched;

  await page.goto(server.signInLink);
  await page.locator('#generate-form').waitFor();
  await page.selectOption('#model-picker', 'openai/gpt-image-1');
  await page.fill('[name=in-prompt]', 'give the cat a hat');

  // Picked with the file chooser.
  const chooser = page.waitForEvent('filechooser');
  await page.click('[data-field=images] [data-action=pick-files]');
  await (await chooser).setFiles({ name: 'picked.png', mimeType: 'image/png', buffer: png });
  const picked = page.locator('.upload-item', { hasText: 'picked.png' });
  await page.waitForFunction(() => [...document.querySelectorAll('.upload-item')].some((item) => item.dataset.upload.startsWith('upl_')));
  assert.match(await picked.locator('img').getAttribute('src'), /^blob:/, 'a local preview');
  assert.equal(await picked.locator('[role=progressbar]').getAttribute('aria-valuenow'), '100');

  // Dropped on the zone.
  const transfer = await page.evaluateHandle((base64) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const data = new DataTransfer();
    data.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
    return data;
  }, png.toString('base64'));
  await page.dispatchEvent('[data-field=images] .dropzone', 'drop', { dataTransfer: transfer });
  const dropped = page.locator('.upload-item', { hasText: 'dropped.png' });
  await dropped.waitFor();
  await page.waitForFunction(() => [...document.querySelectorAll('.upload-item')].filter((item) => item.dataset.upload.startsWith('upl_')).length === 2);
  await screenshot(page, 'desktop-15-uploader');

  // One removed; the edit runs with the other.
  const keep = await picked.getAttribute('data-upload');
  await dropped.getByRole('button', { name: /Remove/ }).click();
  await dropped.waitFor({ state: 'detached' });
  await page.click('#generate-submit');
  await page.locator('.job[data-status=completed]').waitFor({ timeout: 30_000 });
  await page.locator('#results .tile').first().waitFor();
  // The mask is an input file too: a drop zone, not a text box.
  await page.locator('[data-field=mask] .dropzone').waitFor();
  await screenshot(page, 'desktop-16-edit-done');

  const { tasks } = await api(server, 'GET', '/api/v1/tasks?model=openai/gpt-image-1');
  assert.equal(tasks.length, 1);
  assert.deepEqual(tasks[0].input.images, [keep], 'the task names the kept upload only');
  assert.equal(tasks[0].status, 'completed');
  const upload = await api(server, 'GET', `/api/v1/uploads/${keep}`);
  assert.equal(upload.bytes, png.length, 'the whole file arrived');
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(failures, []);
});

test('Kie: the expiry warning, then image to video, played in the lightbox', async () => {
  const png = await placeholderPng(server);
  const launched = await launch({ viewport: DESKTOP });
  const { page, consoleErrors, failures } = launched;
  try {
    await page.goto(server.url);
    // Still signed in from the first test? A fresh browser is not: use a key-made session.
    await page.locator('#sign-in-form, #generate-form').first().waitFor();
    if (await page.locator('#sign-in-form').count()) {
      await api(server, 'PUT', '/api/v1/me/password', { new_password: 'a long enough password' });
      await page.fill('[name=email]', 'admin@localhost');
      await page.fill('[name=password]', 'a long enough password');
      await page.click('#sign-in-form button[type=submit]');
    }
    await page.locator('#generate-form').waitFor();
    await page.selectOption('#model-picker', 'kie/veo-3');
    await page.fill('[name=in-prompt]', 'the cat walks away');
    assert.equal(await page.locator('[data-field=images] .warn-box').isVisible(), false, 'no warning before a file');
    const chooser = page.waitForEvent('filechooser');
    await page.click('[data-field=images] [data-action=pick-files]');
    await (await chooser).setFiles({ name: 'first-frame.png', mimeType: 'image/png', buffer: png });
    await page.waitForFunction(() => [...document.querySelectorAll('.upload-item')].some((item) => item.dataset.upload.startsWith('upl_')));
    const warning = page.locator('[data-field=images] .warn-box');
    await warning.waitFor();
    assert.match(await warning.innerText(), /3 days/);
    await screenshot(page, 'desktop-17-kie-expiry-warning');
    await page.click('#generate-submit');
    await page.locator('.job[data-status=completed]').waitFor({ timeout: 60_000 });
    await page.locator('#results .tile').first().click();
    const video = page.locator('#lightbox video');
    await video.waitFor();
    await page.waitForFunction(() => document.querySelector('#lightbox video')?.readyState >= 1, null, { timeout: 15_000 });
    assert.ok(await video.evaluate((v) => v.duration > 0), 'the video loaded');
    await screenshot(page, 'desktop-18-video-lightbox');
    const { tasks } = await api(server, 'GET', '/api/v1/tasks?model=kie/veo-3');
    assert.equal(tasks[0].status, 'completed');
    assert.match(tasks[0].input.images[0], /^upl_/);
    assert.deepEqual(consoleErrors, []);
    assert.deepEqual(failures, []);
  } finally {
    await launched.browser.close();
  }
});

test('Kie: a copy that expires within a day is shown on the task and in the uploader', async () => {
  // Kie dates every copy 2.5 days back: half a day is left.
  const agedKie = await startEmulator('kie', KEY, ['--upload-age-secs', String(60 * 3600)]);
  const aged = await startServer({
    env: {
      ATELIER__PROVIDERS__KIE__API_KEY: KEY,
      ATELIER__PROVIDERS__KIE__BASE_URL: agedKie.url,
      ATELIER__PROVIDERS__KIE__UPLOAD_BASE_URL: agedKie.url,
      ATELIER__PROVIDERS__KIE__FIRST_POLL_MS: '200',
    },
  });
  const launched = await launch({ viewport: DESKTOP });
  const { page, consoleErrors, failures } = launched;
  try {
    const png = await placeholderPng(aged);
    await page.goto(aged.signInLink);
    await page.locator('#generate-form').waitFor();
    await page.selectOption('#model-picker', 'kie/veo-3');
    await page.fill('[name=in-prompt]', 'the cat looks back');
    const chooser = page.waitForEvent('filechooser');
    await page.click('[data-field=images] [data-action=pick-files]');
    await (await chooser).setFiles({ name: 'frame.png', mimeType: 'image/png', buffer: png });
    await page.waitForFunction(() => [...document.querySelectorAll('.upload-item')].some((item) => item.dataset.upload.startsWith('upl_')));
    assert.equal(await page.locator('[data-copy-state]').count(), 0, 'no copy at Kie before a task sends the file');
    await page.click('#generate-submit');
    await page.locator('.job[data-status=completed]').waitFor({ timeout: 60_000 });

    // The API says it: the task's input copy and the upload's copy, expiring.
    const { tasks } = await api(aged, 'GET', '/api/v1/tasks?model=kie/veo-3');
    const [copy] = tasks[0].input_copies;
    assert.equal(copy.state, 'expiring');
    assert.match(copy.reference, /^upl_/);
    const upload = await api(aged, 'GET', `/api/v1/uploads/${copy.reference}`);
    assert.equal(upload.provider_copies[0].url, copy.url);

    // The task view warns, saying what Atelier will do.
    await page.goto(`${aged.url}/#/tasks`);
    const row = page.locator(`.task-row[data-task="${tasks[0].task_id}"]`);
    const warning = row.locator('[data-copy-state=expiring]');
    await warning.waitFor();
    assert.match(await warning.innerText(), /Kie\.ai.*within a day.*upload the file again/s);
    await screenshot(page, 'desktop-19-task-copy-expiring');

    // Reusing the settings puts the upload back in the uploader, with the warning.
    await row.locator('[data-action=reuse]').click();
    await page.locator('#generate-form').waitFor();
    const note = page.locator('[data-field=images] [data-copy-state=expiring]');
    await note.waitFor();
    assert.match(await note.innerText(), /within a day/);
    await screenshot(page, 'desktop-20-uploader-copy-expiring');
    assert.deepEqual(consoleErrors, []);
    assert.deepEqual(failures, []);
  } finally {
    await launched.browser.close();
    await aged.stop();
    agedKie.child.kill('SIGTERM');
  }
});

test('3D: a relief made from an upload opens in the lightbox\'s 3D viewer, to download as a GLB', async () => {
  const png = await placeholderPng(server);
  const stored = await fetch(`${server.url}/api/v1/uploads?name=relief.png`, {
    method: 'POST', headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'image/png' }, body: png,
  }).then((response) => response.json());
  const task = await api(server, 'POST', '/api/v1/tasks', { model: 'local/relief', input: { image: stored.id, quality: 'fast' } });
  const done = await waitForTask(server, task.task_id);
  assert.equal(done.status, 'completed');
  assert.equal(done.images[0].mime_type, 'model/gltf-binary');
  const launched = await launch({ viewport: DESKTOP });
  const { page, consoleErrors, failures } = launched;
  try {
    await page.goto(server.url);
    await page.locator('#sign-in-form, #generate-form').first().waitFor();
    if (await page.locator('#sign-in-form').count()) {
      // The password is set by the Kie test before this one; alone, this test sets it.
      await api(server, 'PUT', '/api/v1/me/password', { new_password: 'a long enough password' }).catch(() => {});
      await page.fill('[name=email]', 'admin@localhost');
      await page.fill('[name=password]', 'a long enough password');
      await page.click('#sign-in-form button[type=submit]');
      await page.locator('#generate-form').waitFor();
    }
    await page.goto(`${server.url}/#/tasks`);
    await page.locator(`.task-row[data-task="${task.task_id}"] .thumb`).click();
    const lightbox = page.locator('#lightbox');
    // The GLB is drawn in the 3D viewer (e2e/three-d.test.mjs checks what it draws).
    await lightbox.locator('.viewer3d[data-state=ready]').waitFor({ timeout: 20_000 });
    assert.match(await lightbox.locator('canvas[role=img]').getAttribute('aria-label'), /a 3D model of [\d,]+ triangles/);
    assert.equal(await lightbox.locator('img[data-full]').count(), 0, 'not shown as a broken image');
    assert.match(await lightbox.locator('[data-action=download]').getAttribute('download'), /\.glb$/);
    await screenshot(page, 'desktop-21-relief-lightbox');
    assert.deepEqual(consoleErrors, []);
    assert.deepEqual(failures, []);
  } finally {
    await launched.browser.close();
  }
});
