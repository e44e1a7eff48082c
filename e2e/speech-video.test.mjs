// The studio's Speech and Video pages and the lightbox's players, in real Chromium
// against the real binary on a fresh data dir. Speech: typed text is spoken by
// espeak-ng (always installed where the tests run), the page says its progress to
// screen readers, and the file plays in an <audio> element (its duration, read by
// the browser from the file, is above zero and agrees with the server's probe).
// Video: two pictures made here are uploaded, reordered with the keyboard (the
// focus stays on the pressed button; the move is announced), captioned, given the
// speech as soundtrack and made into a small MP4, which loads in a <video> with
// its poster. The gallery shows the audio's icon and length, and the lightbox
// plays both. Every page passes axe-core's WCAG 2 AA checks and logs no error.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  DESKTOP, PHONE, accessibilityViolations, api, launch, png, screenshot, startServer, waitForTask,
} from './harness.mjs';

const PASSWORD = 'a long enough password';

let server;
const browsers = [];
/** What the first tests made, for the later ones. */
const made = {};

function needs(...names) {
  for (const name of names) assert.ok(made[name], `made.${name} is missing: run the whole file, the tests before this one make it`);
}

before(async () => {
  server = await startServer();
  await api(server, 'PUT', '/api/v1/me/password', { new_password: PASSWORD });
});

after(async () => {
  for (const browser of browsers) await browser.close();
  await server?.stop();
});

/** A red-to-yellow and a blue-to-cyan gradient: two pictures told apart at a glance. */
const WARM = png(160, 90, (x, y) => [230, Math.round((x / 160) * 220), Math.round((y / 90) * 60)]);
const COOL = png(160, 90, (x, y) => [Math.round((y / 90) * 60), Math.round((x / 160) * 220), 230]);

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

/**
 * Waits until the media element `selector` has read its file (metadata, at least)
 * and answers what the browser found: readyState, duration, error.
 */
async function loaded(page, selector) {
  await page.waitForFunction((css) => {
    const element = document.querySelector(css);
    return element && (element.error || (element.readyState >= 1 && element.duration > 0));
  }, selector, { timeout: 20_000 });
  return page.locator(selector).evaluate((element) => ({
    readyState: element.readyState, duration: element.duration, error: element.error && element.error.code,
    src: element.getAttribute('src'), poster: element.getAttribute('poster'), controls: element.controls,
    width: element.videoWidth, height: element.videoHeight,
  }));
}

/** Plays the media element (muted, as a browser lets any page) and waits for time to pass. */
async function plays(page, selector) {
  await page.locator(selector).evaluate((element) => {
    element.muted = true;
    return element.play();
  });
  await page.waitForFunction((css) => document.querySelector(css).currentTime > 0.1, selector, { timeout: 10_000 });
  await page.locator(selector).evaluate((element) => element.pause());
}

test('speech: typed, spoken by an espeak-ng voice, played and downloaded', async () => {
  const { page, consoleErrors, failures } = await open(DESKTOP);
  await signIn(page, 'speech');
  await page.locator('#speech-form').waitFor();
  assert.equal(await page.locator('[data-nav=speech]').getAttribute('aria-current'), 'page');
  await page.locator('#speech-recent').waitFor({ state: 'attached' });
  await page.getByText('Nothing spoken yet.').waitFor();

  // The voices, grouped by engine, each group saying what it is.
  const groups = await page.locator('#speech-voice optgroup').evaluateAll((all) => all.map((group) => ({
    label: group.label, voices: [...group.querySelectorAll('option')].map((option) => option.value),
  })));
  const espeak = groups.find((group) => group.label.startsWith('espeak-ng'));
  assert.ok(espeak && espeak.label.includes('robotic'), JSON.stringify(groups.map((group) => group.label)));
  assert.ok(espeak.voices.includes('en-us') && espeak.voices.includes('ja'), 'espeak-ng\'s voices are offered');
  const piper = groups.find((group) => group.label.startsWith('Piper'));
  if (piper) {
    assert.ok(piper.label.includes('neural'));
    assert.ok(piper.voices.every((voice) => /_[A-Z]{2}-/.test(voice)), JSON.stringify(piper.voices));
    // Piper has no pitch: the slider is off, and says why.
    await page.selectOption('#speech-voice', piper.voices[0]);
    assert.equal(await page.locator('#speech-pitch').isDisabled(), true);
    assert.match(await page.locator('#speech-pitch-note').innerText(), /Piper voices have no pitch control/);
  }
  assert.match(await page.locator('#speech-voice-note').innerText(), /neural.*formant synthesis: robotic/s);

  // Nothing typed: said at the field, nothing sent.
  await page.click('#speech-submit');
  assert.match(await page.locator('#speech-text-error').innerText(), /Type something to say/);
  assert.equal(await page.locator('#speech-text').getAttribute('aria-invalid'), 'true');

  const words = 'Hello from the studio. This sentence is spoken by espeak.';
  await page.fill('#speech-text', words);
  assert.equal(await page.locator('#speech-text-count').innerText(), `${words.length} of 5,000 characters`);
  assert.equal(await page.locator('#speech-text').getAttribute('maxlength'), '5000');
  await page.selectOption('#speech-voice', 'en-us');
  assert.equal(await page.locator('#speech-pitch').isDisabled(), false, 'an espeak-ng voice has a pitch');
  await page.locator('#speech-pitch').fill('60');
  await page.locator('#speech-speed').fill('1.2');
  assert.equal(await page.locator('#speech-speed + output, output[for=speech-speed]').first().innerText(), '1.20×');
  await page.selectOption('#speech-format', 'mp3');
  await page.click('#speech-submit');

  const card = page.locator('#speech-results .media-job').first();
  await card.waitFor();
  const taskId = await card.getAttribute('data-task');
  await page.locator(`.media-job[data-task="${taskId}"][data-status=completed]`).waitFor({ timeout: 30_000 });
  assert.equal(await card.locator('[role=progressbar]').getAttribute('aria-valuenow'), '100');
  assert.equal(await card.locator('[data-said]').innerText(), 'Done.');
  assert.equal(await card.locator('[data-said]').getAttribute('aria-live'), 'polite');
  assert.match(await card.locator('[data-spoken-by]').innerText(), /Spoken by espeak-ng, voice en-us \(en\)/);

  const task = await api(server, 'GET', `/api/v1/tasks/${taskId}`);
  assert.equal(task.input.engine, 'espeak');
  assert.equal(task.input.voice, 'en-us');
  assert.equal(task.input.pitch, 60);
  // Stored as an f32 by the engine: 1.2000000476837158.
  assert.ok(Math.abs(task.input.speed - 1.2) < 1e-6, `speed ${task.input.speed}`);
  assert.equal(task.input.format, 'mp3');
  const [output] = task.images;
  assert.equal(output.mime_type, 'audio/mpeg');

  // The player: the file's own length, as the browser reads it, matches the probe's.
  const audio = await loaded(page, `.media-job[data-task="${taskId}"] audio`);
  assert.equal(audio.error, null);
  assert.equal(audio.controls, true);
  assert.equal(audio.src, output.url);
  assert.ok(audio.duration > 1, `duration ${audio.duration}`);
  assert.ok(Math.abs(audio.duration - output.media.duration_secs) < 0.2, `${audio.duration} vs ${output.media.duration_secs}`);
  await plays(page, `.media-job[data-task="${taskId}"] audio`);
  const details = await card.locator('[data-details]').innerText();
  assert.match(details, /long · mp3 · 22,050 Hz · mono/);
  assert.equal(await card.locator('[data-action=download]').getAttribute('href'), output.url);
  assert.match(await card.locator('[data-action=download]').getAttribute('download'), /\.mp3$/);
  const response = await fetch(new URL(output.url, server.url), { headers: { Authorization: `Bearer ${server.adminKey}` } });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'audio/mpeg');

  // Listed below, with its own player.
  const recent = page.locator(`#speech-recent [data-task="${taskId}"]`);
  await recent.waitFor();
  assert.equal(await recent.locator('audio').getAttribute('src'), output.url);
  assert.match(await recent.innerText(), /espeak-ng · en-us/);

  await screenshot(page, 'speech-01-spoken');
  assert.deepEqual(await accessibilityViolations(page), [], 'accessibility of the Speech page');
  made.speech = { taskId, output };
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(failures, []);
});

test('video: pictures uploaded, reordered by keyboard, captioned, with a soundtrack, made and played', async () => {
  needs('speech');
  // A picture output in the gallery, to pick from there too.
  const placeholder = await waitForTask(server, (await api(server, 'POST', '/api/v1/tasks', { model: 'local/placeholder', input: { prompt: 'a green field' } })).task_id);
  assert.equal(placeholder.status, 'completed');
  const galleryPicture = placeholder.images[0].image_id;

  const { page, consoleErrors, failures } = await open(DESKTOP);
  await signIn(page, 'video');
  await page.locator('#video-form').waitFor();
  assert.equal(await page.locator('[data-nav=video]').getAttribute('aria-current'), 'page');

  // Nothing chosen: said, nothing sent.
  await page.click('#video-submit');
  assert.match(await page.locator('#video-slides-error').innerText(), /Add at least one picture/);

  const chooser = page.waitForEvent('filechooser');
  await page.click('#video-form [data-action=pick-files]');
  await (await chooser).setFiles([
    { name: 'warm.png', mimeType: 'image/png', buffer: WARM },
    { name: 'cool.png', mimeType: 'image/png', buffer: COOL },
  ]);
  await page.waitForFunction(() => document.querySelectorAll('#video-slides .slide').length === 2);
  // Taken over by the list: the uploader's own list is empty again.
  assert.equal(await page.locator('#video-form .upload-item').count(), 0);
  const refs = () => page.locator('#video-slides .slide').evaluateAll((all) => all.map((slide) => slide.dataset.ref));
  const [warm, cool] = await refs();
  assert.match(warm, /^upl_/);
  assert.match(cool, /^upl_/);
  assert.equal(await page.locator('#video-slides .slide img').first().getAttribute('alt'), 'Picture 1');

  // From the gallery: the placeholder's picture joins the end.
  await page.locator('#video-gallery summary').click();
  await page.locator(`#video-gallery-grid [data-image="${galleryPicture}"]`).click();
  assert.deepEqual(await refs(), [warm, cool, galleryPicture]);

  // Reordered with the keyboard: the focus stays on the pressed button, the move is said.
  await page.locator('#video-slides .slide').first().locator('[data-action=move-down]').focus();
  await page.keyboard.press('Enter');
  assert.deepEqual(await refs(), [cool, warm, galleryPicture]);
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Move picture 2 down');
  assert.equal(await page.locator('#video-said').innerText(), 'Picture moved to position 2 of 3.');
  await page.keyboard.press('Space');
  assert.deepEqual(await refs(), [cool, galleryPicture, warm]);
  // At the end its "down" is off: the focus moves to its "up".
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Move picture 3 up');
  await page.keyboard.press('Enter');
  await page.keyboard.press('Enter');
  assert.deepEqual(await refs(), [warm, cool, galleryPicture]);
  assert.equal(await page.evaluate(() => document.activeElement.dataset.action), 'move-down', 'at the top, the focus moves to its "down"');
  // The gallery's picture removed, by keyboard too.
  await page.locator('#video-slides .slide').nth(2).locator('[data-action=remove]').focus();
  await page.keyboard.press('Enter');
  assert.deepEqual(await refs(), [warm, cool]);
  assert.equal(await page.locator('#video-said').innerText(), 'Picture removed: 2 left.');
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Remove picture 2');

  await page.getByLabel('Caption for picture 1').fill('Warm colours');
  await page.fill('#video-seconds', '1');
  await page.selectOption('#video-transition', '0.25');
  await page.selectOption('#video-motion', 'zoom_in');
  await page.selectOption('#video-size', '320x180');
  await page.selectOption('#video-soundtrack', made.speech.output.image_id);
  assert.match(await page.locator('#video-soundtrack option:checked').innerText(), /Hello from the studio/);
  assert.equal(await page.locator('.sound-preview audio').getAttribute('src'), made.speech.output.url);
  assert.match(await page.locator('#video-length').innerText(), /2 pictures × 1 s: the video lasts 0:02\.0/);
  await page.click('#video-submit');

  const card = page.locator('#video-results .media-job').first();
  await card.waitFor();
  const taskId = await card.getAttribute('data-task');
  assert.match(page.url(), new RegExp(`#/video\\?task=${taskId}$`));
  await page.locator(`.media-job[data-task="${taskId}"][data-status=completed]`).waitFor({ timeout: 60_000 });
  assert.equal(await card.locator('[data-said]').innerText(), 'Done.');
  const task = await api(server, 'GET', `/api/v1/tasks/${taskId}`);
  assert.deepEqual(task.input.images, [warm, cool]);
  assert.deepEqual(task.input.captions, ['Warm colours']);
  assert.equal(task.input.soundtrack, made.speech.output.image_id);
  assert.equal(task.input.motion, 'zoom_in');
  assert.equal(task.input.transition, 0.25);
  assert.deepEqual([task.input.width, task.input.height, task.input.seconds_per_image], [320, 180, 1]);
  const output = task.images.find((image) => image.mime_type === 'video/mp4');
  assert.ok(output, JSON.stringify(task.images));

  const video = await loaded(page, `.media-job[data-task="${taskId}"] video`);
  assert.equal(video.error, null, 'Chromium reads the MP4');
  assert.equal(video.controls, true);
  assert.equal(video.src, output.url);
  assert.equal(video.poster, output.thumbnail_url, 'the poster is the output\'s thumbnail');
  assert.ok(Math.abs(video.duration - 2) < 0.2, `duration ${video.duration}`);
  assert.deepEqual([video.width, video.height], [320, 180]);
  await plays(page, `.media-job[data-task="${taskId}"] video`);
  assert.match(await card.locator('[data-details]').innerText(), /^0:02\.0 long · 320 × 180 · h264 · 30 fps · .*Hz.* · with sound · [\d.]+ KiB$/);
  assert.match(await card.locator('[data-action=download]').getAttribute('download'), /\.mp4$/);

  // Listed below.
  await page.locator(`#video-recent [data-task="${taskId}"]`).waitFor();
  assert.equal(await page.locator(`#video-recent [data-task="${taskId}"] img`).getAttribute('src'), output.thumbnail_url);
  await screenshot(page, 'video-01-made');
  assert.deepEqual(await accessibilityViolations(page), [], 'accessibility of the Video page');
  made.video = { taskId, output };
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(failures, []);
});

test('the gallery shows the audio\'s length; the lightbox plays the video and the audio', async () => {
  needs('speech', 'video');
  const { page, consoleErrors, failures } = await open(DESKTOP);
  await signIn(page, 'gallery');
  const audioTile = page.locator(`#gallery-grid .tile[data-image="${made.speech.output.image_id}"]`);
  await audioTile.waitFor();
  assert.equal(await audioTile.locator('img').count(), 0, 'audio has no thumbnail');
  assert.match(await audioTile.innerText(), /♪\s*Audio\s*0:0\d\.\d/);
  const videoTile = page.locator(`#gallery-grid .tile[data-image="${made.video.output.image_id}"]`);
  assert.equal(await videoTile.locator('img').getAttribute('src'), made.video.output.thumbnail_url);
  assert.equal(await videoTile.locator('[data-duration]').innerText(), '▶ 0:02.0');
  await screenshot(page, 'speech-video-02-gallery');

  await videoTile.click();
  const lightbox = page.locator('#lightbox');
  await lightbox.waitFor();
  const video = await loaded(page, '#lightbox video');
  assert.equal(video.error, null);
  assert.equal(video.poster, made.video.output.thumbnail_url);
  assert.ok(video.duration > 1.8);
  assert.equal(await lightbox.locator('img').count(), 0, 'a player, not a picture');
  assert.match(await lightbox.locator('[data-about]').innerText(), /h264 · 30 fps · .* · with sound · .* · video\/mp4/);
  assert.deepEqual(await accessibilityViolations(page, '#lightbox'), []);

  // → to the next output, the speech (made before the placeholder's picture? no: newest first).
  const order = await page.locator('#gallery-grid .tile').evaluateAll((all) => all.map((tile) => tile.dataset.image));
  const from = order.indexOf(made.video.output.image_id);
  const to = order.indexOf(made.speech.output.image_id);
  await lightbox.locator('h2').click();
  for (let i = from; i < to; i += 1) await page.keyboard.press('ArrowRight');
  const audio = await loaded(page, '#lightbox audio');
  assert.equal(audio.error, null);
  assert.equal(audio.src, made.speech.output.url);
  assert.ok(audio.duration > 1);
  assert.equal(await lightbox.locator('video').count(), 0, 'the video player is gone');
  assert.match(await lightbox.locator('[data-about]').innerText(), /mp3 · 22,050 Hz · mono/);
  await screenshot(page, 'speech-video-03-lightbox-audio');
  assert.deepEqual(await accessibilityViolations(page, '#lightbox'), []);
  // The audio can be a video's soundtrack: the Video page opens with it chosen.
  await lightbox.locator('[data-action=make-video]').click();
  await lightbox.waitFor({ state: 'detached' });
  await page.locator('#video-form').waitFor();
  await page.waitForFunction((id) => document.querySelector('#video-soundtrack')?.value === id, made.speech.output.image_id);
  assert.equal(await page.locator('.sound-preview audio').getAttribute('src'), made.speech.output.url);
  assert.equal(await page.locator('#video-follow-sound').isDisabled(), false, 'the length can follow it');
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(failures, []);
});

test('on a phone in the dark theme, both pages fit and pass the checks; a made video opens from its address', async () => {
  needs('video');
  const { page, consoleErrors, failures } = await open(PHONE, { colorScheme: 'dark' });
  await signIn(page, 'speech');
  await page.locator('#speech-form').waitFor();
  await page.locator('#speech-recent li').first().waitFor();
  let overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the Speech page is ${overflow}px wider than the phone`);
  await screenshot(page, 'speech-02-phone-dark');
  assert.deepEqual(await accessibilityViolations(page), []);

  await page.goto(`${server.url}/#/video?task=${made.video.taskId}`);
  await page.locator(`.media-job[data-task="${made.video.taskId}"][data-status=completed] video`).waitFor();
  await page.locator('#video-recent li').first().waitFor();
  // A picture in the list, to see its controls at this width.
  await page.locator('#video-gallery summary').click();
  await page.locator('#video-gallery-grid .tile').first().click();
  await page.locator('#video-slides .slide').first().waitFor();
  overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the Video page is ${overflow}px wider than the phone`);
  await screenshot(page, 'video-02-phone-dark');
  assert.deepEqual(await accessibilityViolations(page), []);
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(failures, []);
});
