// The studio's 3D page and viewer, in real Chromium (WebGL on SwiftShader) against
// the real binary on a fresh data dir: no GPU worker is connected, so the built-in
// engine (local/relief) runs every job and the page says so. A picture made here
// (a PNG with a transparent background) is uploaded and becomes a GLB and an OBJ;
// the viewer draws it (its pixels are read back: the model covers the middle of
// the canvas, in many colours, and turning or lighting it changes them), the GLB
// behind the download link passes the Khronos glTF validator with as many
// triangles as the viewer tells screen readers. A description becomes a picture,
// then a 3D model (two steps). The page on a phone in the dark theme; the GLB in
// the gallery and in the lightbox's viewer; a browser without WebGL, a file that is
// not a GLB, a form with nothing to make and a server with no engine at all are
// said in words. Every page passes axe-core's
// WCAG 2 AA checks and logs no console error.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

import {
  DESKTOP, PHONE, REPO, SCREENSHOTS, accessibilityViolations, api, launch, png, screenshot, startServer,
} from './harness.mjs';

const execFileAsync = promisify(execFile);
const PASSWORD = 'a long enough password';

let server;
let scratch;
const browsers = [];
/** What the first tests made, for the later ones. */
const made = {};

/** The jobs an earlier test made: the tests of this file run in order, all of them. */
function needs(...names) {
  for (const name of names) assert.ok(made[name], `made.${name} is missing: run the whole file, the tests before this one make it`);
}

before(async () => {
  server = await startServer();
  // Each browser signs in with the form (the printed sign-in link works once).
  await api(server, 'PUT', '/api/v1/me/password', { new_password: PASSWORD });
  scratch = await mkdtemp(path.join(tmpdir(), 'atelier-e2e-3d-'));
});

after(async () => {
  for (const browser of browsers) await browser.close();
  await server?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** A lit orange ball on a transparent background: the relief keeps its silhouette, a dome. */
function ballPicture() {
  const size = 160;
  return png(size, size, (x, y) => {
    const dx = (x - size / 2) / (size * 0.42);
    const dy = (y - size / 2) / (size * 0.42);
    const r2 = dx * dx + dy * dy;
    if (r2 > 1) return [0, 0, 0, 0];
    const shade = 0.35 + 0.65 * Math.sqrt(1 - r2) * (1 - 0.3 * (dx + dy));
    return [Math.min(255, 250 * shade), Math.min(255, 140 * shade), Math.min(255, 40 * shade + 20 * dx), 255].map(Math.round);
  }, { alpha: true });
}

async function open(viewport, options = {}) {
  const launched = await launch({ viewport, ...options });
  browsers.push(launched.browser);
  return launched;
}

async function signIn(page, route = '3d') {
  await page.goto(`${server.url}/#/${route}`);
  await page.locator('#sign-in-form').waitFor();
  await page.fill('[name=email]', 'admin@localhost');
  await page.fill('[name=password]', PASSWORD);
  await page.click('#sign-in-form button[type=submit]');
}

/** Waits for two frames: what a click asked the viewer to draw is on the canvas. */
function frames(page) {
  return page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
}

/**
 * What the viewer's canvas shows, read back (it keeps its drawing buffer): the share
 * of pixels drawn on (the clear colour is transparent), the same in its middle
 * fifth, how many colours (in steps of 8), and a checksum to tell two views apart.
 */
function pixels(canvas) {
  return canvas.evaluate((element) => {
    const copy = document.createElement('canvas');
    copy.width = element.width;
    copy.height = element.height;
    const context = copy.getContext('2d');
    context.drawImage(element, 0, 0);
    const { data, width, height } = context.getImageData(0, 0, copy.width, copy.height);
    let drawn = 0;
    let middle = 0;
    let middleTotal = 0;
    let sum = 0;
    const colours = new Set();
    for (let y = 0; y < height; y += 1) {
      for (let x = 0; x < width; x += 1) {
        const i = (y * width + x) * 4;
        const inMiddle = Math.abs(x - width / 2) < width / 10 && Math.abs(y - height / 2) < height / 10;
        if (inMiddle) middleTotal += 1;
        if (data[i + 3] === 0) continue;
        drawn += 1;
        if (inMiddle) middle += 1;
        colours.add(((data[i] >> 3) << 10) | ((data[i + 1] >> 3) << 5) | (data[i + 2] >> 3));
        sum = (sum * 31 + data[i] + data[i + 1] * 7 + data[i + 2] * 13 + x) % 1_000_000_007;
      }
    }
    return { width, height, drawn: drawn / (width * height), middle: middle / middleTotal, colours: colours.size, sum };
  });
}

/** The GLB behind a download link, checked by the Khronos validator; returns its report. */
async function validateGlb(href, name) {
  const response = await fetch(new URL(href, server.url));
  assert.equal(response.status, 200, `GET ${href}`);
  const file = path.join(scratch, name);
  await writeFile(file, Buffer.from(await response.arrayBuffer()));
  try {
    const { stdout } = await execFileAsync(process.execPath, [path.join(REPO, 'e2e/gltf-validate.mjs'), file]);
    return JSON.parse(stdout);
  } catch (error) {
    assert.fail(`the Khronos validator refused ${name}: ${error.stdout || error.message}`);
  }
}

test('a picture becomes a 3D model: uploaded, made on the fallback engine, drawn, turned, lit and downloaded', async () => {
  const { page, consoleErrors, failures, requests } = await open(DESKTOP);
  await signIn(page);
  await page.locator('#three-d-form').waitFor();
  assert.ok(!requests.some((p) => p.endsWith('/three-viewer.js')), 'three.js is not fetched before a model is shown');
  assert.equal(await page.locator('[data-nav="3d"]').getAttribute('aria-current'), 'page');

  const chooser = page.waitForEvent('filechooser');
  await page.click('#three-d-picture [data-action=pick-files]');
  await (await chooser).setFiles({ name: 'ball.png', mimeType: 'image/png', buffer: ballPicture() });
  await page.waitForFunction(() => document.querySelector('#three-d-picture .upload-item')?.dataset.upload.startsWith('upl_'));
  await page.check('[name=quality][value=fast]');
  assert.equal(await page.isChecked('[name=format][value=glb]'), true);
  assert.equal(await page.isChecked('[name=format][value=obj]'), true);
  assert.equal(await page.isChecked('[name=format][value=stl]'), false);
  await page.click('#three-d-submit');

  // The job: the fallback engine, saying why; one step; done.
  const card = page.locator('.three-d-job').first();
  await card.waitFor();
  const jobId = await card.getAttribute('data-job');
  assert.match(await card.locator('[data-degraded]').innerText(), /built-in engine.*local\/relief/s);
  await page.locator(`.three-d-job[data-job="${jobId}"][data-status=completed]`).waitFor({ timeout: 30_000 });
  assert.equal(await card.locator('[data-job-engine]').innerText(), 'local/relief');
  assert.equal(await card.locator('.job-steps li').count(), 1);
  assert.equal(await card.locator('[role=progressbar]').getAttribute('aria-valuenow'), '100');
  assert.match(page.url(), new RegExp(`#/3d\\?job=${jobId}$`), 'the job has an address');

  // The viewer drew the model: most of the middle, in many colours (the texture, lit).
  const viewer = card.locator('.viewer3d');
  await card.locator('.viewer3d[data-state=ready]').waitFor({ timeout: 20_000 });
  const canvas = viewer.locator('canvas');
  await frames(page);
  const first = await pixels(canvas);
  assert.ok(first.drawn > 0.05, `the model covers part of the canvas: ${JSON.stringify(first)}`);
  assert.ok(first.middle > 0.9, `the camera is fitted on the model: ${JSON.stringify(first)}`);
  assert.ok(first.colours > 30, `lit and textured, not a flat shape: ${JSON.stringify(first)}`);
  const triangles = Number(await viewer.getAttribute('data-triangles'));
  assert.ok(triangles > 100, `triangles: ${triangles}`);
  assert.match(await canvas.getAttribute('aria-label'), new RegExp(`${triangles.toLocaleString('en')} triangles`));
  assert.equal(await canvas.getAttribute('role'), 'img');

  // Turned with a button, with the keyboard, zoomed and lit: each draws anew.
  await viewer.locator('[data-viewer=turn-left]').click();
  await frames(page);
  const turned = await pixels(canvas);
  assert.notEqual(turned.sum, first.sum, 'turning it changed the picture');
  await canvas.focus();
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('+');
  await frames(page);
  const zoomed = await pixels(canvas);
  assert.ok(zoomed.drawn > turned.drawn, `zooming in makes it bigger: ${turned.drawn} → ${zoomed.drawn}`);
  await viewer.locator('[data-viewer=light-direction]').fill('220');
  await frames(page);
  assert.notEqual((await pixels(canvas)).sum, zoomed.sum, 'moving the light changed the picture');
  await viewer.locator('[data-viewer=reset]').click();
  await viewer.locator('[data-viewer=spin]').click();
  assert.equal(await viewer.locator('[data-viewer=spin]').getAttribute('aria-pressed'), 'true');
  await viewer.locator('[data-viewer=spin]').click();
  await viewer.locator('[data-viewer=light-direction]').fill('45');
  await frames(page);

  // Downloads: GLB and OBJ (asked for), no STL; the GLB passes the Khronos validator.
  const links = card.locator('.downloads a');
  assert.deepEqual(await links.evaluateAll((all) => all.map((a) => a.dataset.format)), ['glb', 'obj']);
  assert.match(await card.locator('a[data-format=glb]').getAttribute('download'), /\.glb$/);
  assert.match(await card.locator('a[data-format=obj]').getAttribute('download'), /\.obj\.zip$/);
  const report = await validateGlb(await card.locator('a[data-format=glb]').getAttribute('href'), 'from-picture.glb');
  assert.equal(report.errors, 0, JSON.stringify(report));
  assert.equal(report.triangles, triangles, 'the viewer counts the triangles the validator counts');

  await viewer.screenshot({ path: path.join(SCREENSHOTS, 'three-d-viewer.png') });
  await screenshot(page, 'three-d-01-from-picture');
  assert.deepEqual(await accessibilityViolations(page), [], 'accessibility of the 3D page');

  const job = await api(server, 'GET', `/api/v1/jobs/${jobId}`);
  assert.equal(job.job_type, 'image-to-3d');
  assert.deepEqual(job.input_data.output_formats, ['glb', 'obj']);
  assert.equal(job.input_data.quality, 'fast');
  made.pictureJob = jobId;
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(failures, []);
});

test('a description becomes a picture, then a 3D model, in two steps', async () => {
  needs('pictureJob');
  const { page, consoleErrors, failures } = await open(DESKTOP);
  await signIn(page);
  await page.locator('#three-d-form').waitFor();
  // The picture job is among the recent ones.
  await page.locator(`#three-d-recent [data-job="${made.pictureJob}"]`).waitFor();

  await page.locator('#three-d-source label', { hasText: 'From a description' }).click();
  assert.equal(await page.locator('#three-d-picture').isHidden(), true);
  await page.fill('#three-d-prompt', 'a small wooden chair with a woven seat');
  await page.check('[name=quality][value=fast]');
  await page.check('[name=format][value=stl]');
  await page.click('#three-d-submit');

  const card = page.locator('.three-d-job').first();
  await card.waitFor();
  const jobId = await card.getAttribute('data-job');
  assert.notEqual(jobId, made.pictureJob);
  assert.equal(await card.locator('.job-steps li').count(), 2, 'a picture step, then the 3D step');
  await page.locator(`.three-d-job[data-job="${jobId}"][data-status=completed]`).waitFor({ timeout: 30_000 });
  assert.deepEqual(await card.locator('.job-steps li').evaluateAll((steps) => steps.map((step) => step.dataset.status)), ['completed', 'completed']);
  assert.match(await card.locator('.job-steps li').first().innerText(), /Picture from the description.*local\/placeholder/s);
  assert.equal(await card.locator('.prompt').innerText(), 'a small wooden chair with a woven seat');
  await card.locator('.viewer3d[data-state=ready]').waitFor({ timeout: 20_000 });
  await frames(page);
  const drawn = await pixels(card.locator('canvas'));
  assert.ok(drawn.middle > 0.9 && drawn.colours > 30, JSON.stringify(drawn));
  assert.deepEqual(await card.locator('.downloads a').evaluateAll((all) => all.map((a) => a.dataset.format)), ['glb', 'obj', 'stl']);
  const report = await validateGlb(await card.locator('a[data-format=glb]').getAttribute('href'), 'from-text.glb');
  assert.equal(report.errors, 0, JSON.stringify(report));

  // The recent list has both, newest first, the description read from the job.
  const recent = page.locator(`#three-d-recent [data-job="${jobId}"]`);
  await recent.waitFor();
  await page.waitForFunction((id) => document.querySelector(`#three-d-recent [data-job="${id}"] .prompt`)?.textContent.includes('wooden chair'), jobId);
  assert.equal(await page.locator('#three-d-recent li').first().getAttribute('data-job'), jobId);
  await screenshot(page, 'three-d-02-from-description');
  assert.deepEqual(await accessibilityViolations(page), []);
  const job = await api(server, 'GET', `/api/v1/jobs/${jobId}`);
  assert.equal(job.job_type, 'text-to-3d');
  made.textJob = jobId;
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(failures, []);
});

test('on a phone in the dark theme, a job opened from its address', async () => {
  needs('textJob');
  const { page, consoleErrors, failures } = await open(PHONE, { colorScheme: 'dark' });
  await signIn(page, `3d?job=${made.textJob}`);
  const card = page.locator(`.three-d-job[data-job="${made.textJob}"]`);
  await card.locator('.viewer3d[data-state=ready]').waitFor({ timeout: 20_000 });
  await page.waitForFunction(() => document.querySelector('.three-d-job .prompt')?.textContent.includes('wooden chair'));
  await frames(page);
  const drawn = await pixels(card.locator('canvas'));
  assert.ok(drawn.middle > 0.9, JSON.stringify(drawn));
  // Nothing wider than the screen.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
  await card.scrollIntoViewIfNeeded();
  await screenshot(page, 'three-d-03-phone-dark');
  assert.deepEqual(await accessibilityViolations(page), []);
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(failures, []);
});

test('the GLB in the gallery and in the lightbox viewer; a picture\'s lightbox leads to the 3D page', async () => {
  needs('pictureJob');
  const { page, consoleErrors, failures } = await open(DESKTOP);
  await signIn(page, 'gallery');
  const { images } = await api(server, 'GET', '/api/v1/assets?limit=100');
  const task = await api(server, 'GET', `/api/v1/tasks/${made.pictureJob}`);
  const glbId = task.images.find((image) => image.mime_type === 'model/gltf-binary')?.image_id;
  const glb = images.find((image) => image.image_id === glbId);
  assert.ok(glb, `the picture job's GLB is among the assets: ${JSON.stringify(task.images)}`);
  const tile = page.locator(`#gallery-grid .tile[data-image="${glbId}"]`);
  await tile.waitFor();
  // The server draws a GLB's thumbnail.
  assert.ok(glb.thumbnail_url, 'GET /assets gives the GLB a thumbnail_url');
  assert.equal(await tile.locator('img').getAttribute('src'), glb.thumbnail_url);
  await page.waitForFunction((id) => document.querySelector(`.tile[data-image="${id}"] img`)?.naturalWidth > 0, glbId);
  assert.equal(await tile.locator('.tile-badge').innerText(), '3D');
  const zip = images.find((image) => image.task_id === made.pictureJob && image.mime_type === 'application/zip');
  assert.ok(zip, 'the picture job\'s OBJ (zipped) is among the assets');
  assert.equal(await page.locator(`#gallery-grid .tile[data-image="${zip.image_id}"] .kind`).innerText(), 'ZIP archive');
  await screenshot(page, 'three-d-04-gallery');

  await tile.click();
  const lightbox = page.locator('#lightbox');
  await lightbox.locator('.viewer3d[data-state=ready]').waitFor({ timeout: 20_000 });
  const heading = await lightbox.locator('h2').innerText();
  // ← and → turn the model while it has the keys; they do not move the lightbox on.
  await lightbox.locator('canvas').focus();
  await page.keyboard.press('ArrowRight');
  await frames(page);
  assert.equal(await lightbox.locator('h2').innerText(), heading);
  assert.ok((await pixels(lightbox.locator('canvas'))).middle > 0.9);
  assert.match(await lightbox.locator('[data-action=download]').getAttribute('download'), /\.glb$/);
  await screenshot(page, 'three-d-05-lightbox');
  assert.deepEqual(await accessibilityViolations(page, '#lightbox'), []);
  // Moving on frees the viewer: no canvas is left behind.
  await lightbox.locator('.close-x').click();
  await lightbox.waitFor({ state: 'detached' });
  assert.equal(await page.locator('canvas').count(), 0);

  // A picture's lightbox leads to the 3D page with the picture chosen.
  const picture = images.find((image) => image.mime_type === 'image/png');
  assert.ok(picture, 'the description job\'s picture is among the assets');
  await page.locator(`#gallery-grid .tile[data-image="${picture.image_id}"]`).click();
  await page.locator('#lightbox [data-action=make-3d]').click();
  await page.locator('#three-d-form').waitFor();
  assert.match(page.url(), new RegExp(`#/3d\\?image=${picture.image_id}$`));
  assert.equal(await page.locator('#three-d-picture .upload-item img').getAttribute('src'), `/api/v1/images/${picture.image_id}/thumbnail`);
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(failures, []);
});

test('without WebGL, or with a file that is not a GLB, the viewer says so (and logs no error)', async () => {
  needs('pictureJob');
  const { page, consoleErrors, failures } = await open(DESKTOP);
  await signIn(page);
  await page.locator('#three-d-form').waitFor();
  // A recent job opens from the list.
  await page.locator(`#three-d-recent [data-job="${made.pictureJob}"] [data-action=show-job]`).click();
  const card = page.locator(`.three-d-job[data-job="${made.pictureJob}"]`);
  await card.locator('.viewer3d[data-state=ready]').waitFor({ timeout: 20_000 });

  // The file behind the link is not a GLB.
  await page.route('**/api/v1/shared/**', (route) => route.fulfill({ status: 200, contentType: 'model/gltf-binary', body: 'not a GLB' }));
  await page.reload();
  const broken = page.locator(`.three-d-job[data-job="${made.pictureJob}"] .viewer3d[data-state=error]`);
  await broken.waitFor({ timeout: 20_000 });
  assert.match(await broken.locator('[role=alert]').innerText(), /could not be read.*Download it/s);
  assert.equal(await broken.locator('canvas').isHidden(), true);
  await page.unroute('**/api/v1/shared/**');

  // No WebGL 2: the canvas is never drawn on, and the viewer says why.
  await page.addInitScript(() => {
    const getContext = HTMLCanvasElement.prototype.getContext;
    HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
      return kind === 'webgl2' ? null : getContext.call(this, kind, ...rest);
    };
  });
  await page.reload();
  const none = page.locator(`.three-d-job[data-job="${made.pictureJob}"] .viewer3d[data-state=error]`);
  await none.waitFor({ timeout: 20_000 });
  assert.match(await none.locator('[role=alert]').innerText(), /WebGL 2 is off or missing/);
  // The files still download.
  assert.equal(await page.locator(`.three-d-job[data-job="${made.pictureJob}"] a[data-format=glb]`).count(), 1);
  assert.deepEqual(await accessibilityViolations(page), []);
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(failures, []);
});

test('nothing to make, and no engine at all, are said in words', async () => {
  const bare = await startServer({ env: { ATELIER__THREE_D__FALLBACK: '' } });
  const { page, consoleErrors, failures } = await open(DESKTOP);
  try {
    await api(bare, 'PUT', '/api/v1/me/password', { new_password: PASSWORD });
    await page.goto(`${bare.url}/#/3d`);
    await page.fill('[name=email]', 'admin@localhost');
    await page.fill('[name=password]', PASSWORD);
    await page.click('#sign-in-form button[type=submit]');
    await page.locator('#three-d-form').waitFor();
    await page.locator('#three-d-recent').waitFor({ state: 'attached' });
    await page.getByText('No 3D models yet.').waitFor();

    // Nothing chosen: the form says what is missing, and sends nothing.
    await page.uncheck('[name=format][value=glb]');
    await page.uncheck('[name=format][value=obj]');
    await page.click('#three-d-submit');
    assert.match(await page.locator('#three-d-ref-error').innerText(), /Choose a picture/);
    assert.match(await page.locator('#three-d-formats .error-text').innerText(), /at least one file format/);

    // No GPU worker and no fallback: 503, in words, with the wait.
    await page.check('[name=format][value=glb]');
    await page.fill('#three-d-ref', 'https://example.com/chair.png');
    await page.click('#three-d-submit');
    const message = page.locator('#three-d-form .error-box[role=alert]');
    await message.waitFor();
    assert.match(await message.innerText(), /No 3D engine can take this job now.*Try again in/s);
    assert.match(await message.innerText(), /no worker serving trellis/);
    assert.equal(await page.locator('.three-d-job').count(), 0);
    await screenshot(page, 'three-d-06-no-engine');
    assert.deepEqual(await accessibilityViolations(page), []);
    // The browser logs the refused request itself; nothing else.
    assert.deepEqual(consoleErrors.map((e) => e.replace(/:\d+\//, ':PORT/')),
      ['console.error: Failed to load resource: the server responded with a status of 503 (Service Unavailable) (http://127.0.0.1:PORT/api/v1/generate/image-to-3d:0)']);
    assert.deepEqual(failures, ['503 POST /api/v1/generate/image-to-3d']);
  } finally {
    await bare.stop();
  }
});
