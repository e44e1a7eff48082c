// The web studio end to end, in real Chromium against the real binary: sign in with
// two-factor, generate with local/placeholder and watch it on the event stream, find
// the outputs in the gallery, open the lightbox, tag, filter by tag, reuse the
// settings, delete; then the same on a phone-sized screen (signing in with a
// recovery code), the keys, tasks and admin pages, and the studio in Japanese and
// Chinese. Every page is screenshotted (see scripts/e2e for where), and no page may
// log a console error or get an unexpected HTTP error from the API.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  DESKTOP, PHONE, accessibilityViolations, api, createUser, launch, nextTotpCode, screenshot, startServer, totpCode,
} from './harness.mjs';

const EMAIL = 'ada@example.com';
const PASSWORD = 'correct horse battery staple';

let server;
const browsers = [];
let totpSecret = null;
let lastCode = null;
let recoveryCodes = [];

before(async () => {
  // local/instant (off by default) can wait before finishing: a task to cancel.
  // A daily quota on the local service, for the admin page to show.
  server = await startServer({
    env: {
      ATELIER__ENGINES__INSTANT__ENABLED: 'true',
      ATELIER__PROVIDERS__LIMITS__LOCAL__DAILY_TASKS: '1000',
      ATELIER__PROVIDERS__LIMITS__LOCAL__MAX_IN_FLIGHT: '8',
    },
  });
  await createUser(server, EMAIL, PASSWORD, 'member');
});

after(async () => {
  for (const browser of browsers) await browser.close();
  await server?.stop();
});

/** A browser page (see `launch`: console errors, HTTP failures, requests), closed after all tests. */
async function open(viewport, options = {}) {
  const launched = await launch({ viewport, ...options });
  browsers.push(launched.browser);
  return launched;
}

/** A screenshot of the page, which must also pass axe-core's WCAG 2 AA checks. */
async function shot(page, name) {
  await screenshot(page, name);
  assert.deepEqual(await accessibilityViolations(page), [], `accessibility of ${name}`);
}

async function signIn(page, code) {
  await page.goto(server.url);
  await page.locator('#sign-in-form').waitFor();
  await page.fill('[name=email]', EMAIL);
  await page.fill('[name=password]', PASSWORD);
  if (code) await page.fill('[name=code]', code);
  await page.click('#sign-in-form button[type=submit]');
}

/** No part of a page shows a programming value where words belong (model
 * descriptions, which are prose from the server, are left out). */
async function noStrayText(page, selector = 'main') {
  const text = await page.locator(selector).innerText();
  assert.doesNotMatch(text, /\b(null|undefined|NaN)\b|\[object Object\]/, text);
}

async function tiles(page, grid) {
  return page.locator(`${grid} .tile`).count();
}

/**
 * Waits until exactly `count` elements match `selector`. After a filter changes
 * the address, the page before it may still be showing for a moment: counting at
 * once could count that one.
 */
async function waitForCount(page, selector, count) {
  await page.waitForFunction(([s, n]) => document.querySelectorAll(s).length === n, [selector, count]);
}

/**
 * The whole generate → gallery → lightbox → tag → filter → reuse → delete story.
 * `name` prefixes screenshots and makes the prompt and tag unique to this run.
 */
async function story({ page, requests }, name) {
  const prompt = `a blue whale over the sea, ${name}`;
  const tag = `whale-${name}`;

  // Generate: the placeholder model is the default; the form comes from its schema.
  await page.click('[data-nav=generate]');
  await page.locator('#generate-form').waitFor();
  assert.equal(await page.inputValue('#model-picker'), 'local/placeholder');
  await page.fill('[name=in-prompt]', prompt);
  await page.fill('[name=in-num_images]', '2');
  await page.click('[data-preset="768x1024"]');
  assert.equal(await page.inputValue('[name=in-width]'), '768');
  await page.click('[data-action=dice]');
  const seed = await page.inputValue('[name=in-seed]');
  assert.match(seed, /^\d+$/, 'the dice button picks a seed');
  await page.click('#generate-submit');

  // Progress: a job card driven by the task's event stream, ending completed at 100%.
  const job = page.locator('.job').first();
  await job.waitFor();
  await page.locator('.job[data-status=completed]').first().waitFor();
  assert.equal(await job.locator('[role=progressbar]').getAttribute('aria-valuenow'), '100');
  assert.ok(requests.some((path) => /^\/api\/v1\/tasks\/[^/]+\/events$/.test(path)), 'progress came from the SSE stream');
  await page.locator('#results .tile').nth(1).waitFor();
  assert.equal(await tiles(page, '#results'), 2);
  await noStrayText(page, '#jobs');
  await noStrayText(page, '#results');
  await shot(page, `${name}-02-generate`);

  // Gallery: both outputs, newest first.
  await page.click('[data-nav=gallery]');
  await page.locator('#gallery-grid .tile').nth(1).waitFor();
  await shot(page, `${name}-03-gallery`);

  // Lightbox, opened from the keyboard: the full image and every parameter.
  await page.locator('#gallery-grid .tile').first().focus();
  await page.keyboard.press('Enter');
  const lightbox = page.locator('#lightbox');
  await lightbox.locator('img[data-full]').waitFor();
  await lightbox.locator('dl.params').waitFor();
  const params = await lightbox.locator('dl.params').innerText();
  assert.ok(params.includes(prompt), params);
  assert.ok(params.includes(seed), `the stored seed ${seed} is shown: ${params}`);
  await page.keyboard.press('ArrowRight');
  await lightbox.getByText(/^Output 2 of \d+$/).waitFor();
  await page.keyboard.press('ArrowLeft');
  await lightbox.getByText(/^Output 1 of \d+$/).waitFor();
  const imageId = await lightbox.locator('img[data-full]').getAttribute('data-full');

  // Tag it inline.
  await lightbox.locator('[name=new-tag]').fill(tag);
  await lightbox.locator('[data-action=add-tag] button[type=submit]').click();
  await lightbox.locator(`.tag[data-tag="${tag}"]`).waitFor();
  await noStrayText(page, '#lightbox');
  await shot(page, `${name}-04-lightbox`);
  const tagged = await api(server, 'GET', `/api/v1/assets?tag=${encodeURIComponent(tag)}`);
  assert.deepEqual(tagged.images.map((image) => image.image_id), [imageId], 'the tag is stored on the server');
  await page.keyboard.press('Escape');
  await lightbox.waitFor({ state: 'detached' });

  // Filter by the tag: only that image.
  await page.fill('#gallery-filters [name=tag]', tag);
  await page.click('#gallery-filters button[type=submit]');
  await page.waitForFunction((t) => location.hash.includes(`tag=${encodeURIComponent(t)}`), tag);
  await page.locator(`#gallery-grid .tile[data-image="${imageId}"]`).waitFor();
  await waitForCount(page, '#gallery-grid .tile', 1);
  await shot(page, `${name}-05-filtered`);

  // The tasks list filters by an output's tag too: the task that made the image,
  // showing its tag; none for an unused tag; back again.
  await page.click('[data-nav=tasks]');
  for (const [wanted, rows] of [[tag, 1], [`${tag}-unused`, 0]]) {
    await page.fill('#task-filters [name=tag]', wanted);
    await page.press('#task-filters [name=tag]', 'Enter');
    await page.waitForFunction((t) => location.hash === `#/tasks?tag=${encodeURIComponent(t)}`, wanted);
    await page.locator(rows ? '#task-list .task-row .tag a' : 'text=No tasks here yet.').first().waitFor();
    await waitForCount(page, '#task-list .task-row', rows);
  }
  await page.goBack();
  await page.locator('#task-list .task-row .tag a', { hasText: tag }).waitFor();
  assert.equal(await page.inputValue('#task-filters [name=tag]'), tag);
  await shot(page, `${name}-05b-tasks-by-tag`);

  // Use these settings again: the form comes back filled in.
  await page.goto(`${server.url}/#/gallery?tag=${encodeURIComponent(tag)}`);
  await page.locator(`#gallery-grid .tile[data-image="${imageId}"]`).click();
  await lightbox.locator('[data-action=reuse]').click();
  await page.locator('#generate-form').waitFor();
  await page.waitForFunction((p) => document.querySelector('[name=in-prompt]')?.value === p, prompt);
  assert.equal(await page.inputValue('[name=in-seed]'), seed);
  assert.equal(await page.inputValue('[name=in-num_images]'), '2');
  assert.equal(await page.inputValue('[name=in-width]'), '768');
  await shot(page, `${name}-06-reuse`);

  // Delete, after confirming.
  await page.goto(`${server.url}/#/gallery?tag=${encodeURIComponent(tag)}`);
  await page.locator(`#gallery-grid .tile[data-image="${imageId}"]`).click();
  await lightbox.locator('[data-action=delete]').click();
  const confirm = page.locator('dialog.confirm');
  await confirm.waitFor();
  await shot(page, `${name}-07-confirm-delete`);
  await confirm.getByRole('button', { name: 'Delete' }).click();
  await page.locator(`#gallery-grid .tile[data-image="${imageId}"]`).waitFor({ state: 'detached' });
  const after = await api(server, 'GET', `/api/v1/assets?tag=${encodeURIComponent(tag)}`);
  assert.deepEqual(after.images, [], 'the image is gone on the server');
  await page.locator('#lightbox').waitFor({ state: 'detached' });
}

test('desktop: sign in, enrol two-factor, then the whole generate story', async () => {
  const session = await open(DESKTOP, { colorScheme: 'light' });
  const { page, consoleErrors, failures } = session;

  await page.goto(server.url);
  await page.locator('#sign-in-form').waitFor();
  await shot(page, 'desktop-00-sign-in');
  await signIn(page);
  await page.locator('#generate-form').waitFor();
  await shot(page, 'desktop-01-generate-empty');

  // Two-factor enrolment: the QR code, the key to type, a first code from oathtool.
  await page.click('[data-nav=account]');
  await page.click('#totp-start');
  await page.locator('#totp-qr').waitFor();
  assert.match(await page.locator('#totp-qr').getAttribute('src'), /^data:image\/png;base64,/);
  totpSecret = (await page.locator('#totp-secret').innerText()).trim();
  assert.match(totpSecret, /^[A-Z2-7]+=*$/);
  await shot(page, 'desktop-08-totp-enrol');
  lastCode = await totpCode(totpSecret);
  await page.fill('#totp-code', lastCode);
  await page.click('#totp-confirm button[type=submit]');
  await page.locator('#recovery-codes').waitFor();
  recoveryCodes = (await page.locator('#recovery-codes').innerText()).split('\n').map((c) => c.trim()).filter(Boolean);
  assert.equal(recoveryCodes.length, 10);
  await shot(page, 'desktop-09-totp-recovery-codes');

  // Sign out; sign in again: the password alone is not enough any more.
  await page.click('#sign-out');
  await signIn(page);
  await page.locator('#sign-in-form [role=alert]').getByText('six-digit code').waitFor();
  // That refusal is the one expected error: Chromium logs every 4xx answer.
  assert.deepEqual(failures.splice(0), ['401 POST /api/v1/sessions']);
  assert.deepEqual(consoleErrors.splice(0).map((e) => e.replace(/:\d+\//, ':PORT/')),
    ['console.error: Failed to load resource: the server responded with a status of 401 (Unauthorized) (http://127.0.0.1:PORT/api/v1/sessions:0)']);
  lastCode = await nextTotpCode(totpSecret, lastCode);
  await signIn(page, lastCode);
  await page.locator('#generate-form').waitFor();

  await story(session, 'desktop');

  // A task that takes a while: seen running, cancelled, retried, all from the pages.
  await page.click('[data-nav=generate]');
  await page.selectOption('#model-picker', 'local/instant');
  await page.fill('[name=in-prompt]', 'a slow one');
  await page.click('details.advanced > summary');
  await page.fill('[name=in-delay_ms]', '60000');
  await page.click('#generate-submit');
  await page.locator('.job[data-status=processing], .job[data-status=pending]').first().waitFor();
  // The status and its words are read in one go: the task may start between two reads.
  const [status, words] = await page.locator('.job').first().evaluate((job) => [job.dataset.status, job.querySelector('[data-status]').innerText]);
  assert.equal(words, status === 'pending' ? 'Queued' : 'Working');
  await page.click('[data-nav=tasks]');
  const slow = page.locator('#task-list .task-row', { hasText: 'a slow one' });
  await slow.locator('[data-action=cancel]').click();
  await page.locator('#task-list .task-row[data-status=cancelled]', { hasText: 'a slow one' }).waitFor();
  await page.locator('#task-list .task-row[data-status=cancelled]', { hasText: 'a slow one' }).locator('[data-action=retry]').click();
  const retried = page.locator('#task-list .task-row', { hasText: 'a slow one' }).filter({ hasText: '(a retry)' });
  await retried.locator('[data-action=cancel]').waitFor();
  await page.locator('#task-list .task-row [data-status=completed]').first().waitFor();
  await noStrayText(page);
  await shot(page, 'desktop-10-tasks');
  await retried.locator('[data-action=cancel]').click();
  await page.locator('#task-list .task-row[data-status=cancelled]', { hasText: 'a slow one' }).nth(1).waitFor();
  const { tasks } = await api(server, 'GET', '/api/v1/tasks?model=local/instant');
  assert.deepEqual(tasks.map((t) => t.status), ['cancelled', 'cancelled'], 'both cancelled on the server');

  // API keys: created, shown once, revoked.
  await page.click('[data-nav=keys]');
  await page.fill('#create-key-form [name=name]', 'e2e script');
  await page.click('#create-key-form button[type=submit]');
  const key = (await page.locator('#new-key-value').innerText()).trim();
  assert.match(key, /^atl_[0-9a-f]{12}_\S+$/);
  const me = await api(server, 'GET', '/api/v1/me', undefined, key);
  assert.equal(me.email, EMAIL, 'the new key works');
  await shot(page, 'desktop-11-keys');
  await page.locator('#keys-table tr', { hasText: 'e2e script' }).locator('[data-action=revoke]').click();
  await page.locator('dialog.confirm').getByRole('button', { name: 'Revoke' }).click();
  await page.locator('#keys-table tr', { hasText: 'e2e script' }).getByText('revoked').waitFor();
  await assert.rejects(api(server, 'GET', '/api/v1/me', undefined, key), (error) => error.status === 401);

  // Dark theme, remembered across a reload.
  await page.click('#theme-toggle');
  assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
  await page.reload();
  await page.locator('#keys-table').waitFor();
  assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
  await page.click('[data-nav=gallery]');
  await page.locator('#gallery-grid .tile').first().waitFor();
  await shot(page, 'desktop-12-gallery-dark');

  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(failures, []);
});

test('phone, in the system dark theme: sign in with a recovery code, then the same story', async () => {
  assert.ok(recoveryCodes.length, 'the desktop test enrolled two-factor first');
  const session = await open(PHONE, { colorScheme: 'dark' });
  const { page, consoleErrors, failures } = session;
  await signIn(page, recoveryCodes[0]);
  await page.locator('#generate-form').waitFor();
  await shot(page, 'phone-01-generate-empty');
  await story(session, 'phone');
  await page.click('[data-nav=tasks]');
  await page.locator('#task-list .task-row').first().waitFor();
  await shot(page, 'phone-10-tasks');
  await page.click('[data-nav=account]');
  await page.locator('#totp-on').waitFor();
  await shot(page, 'phone-11-account');
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(failures, []);
});

test('admin: the one-time link signs in; users and provider status', async () => {
  const session = await open(DESKTOP);
  const { page, consoleErrors, failures } = session;
  await page.goto(server.signInLink);
  await page.locator('#generate-form').waitFor();
  await page.click('[data-nav=admin]');
  await page.locator('#providers [data-provider=local] [data-circuit=closed]').waitFor();
  await page.locator('#users-table tr', { hasText: EMAIL }).waitFor();
  const local = page.locator('#providers [data-provider=local]');
  const used = (await api(server, 'GET', '/api/v1/providers')).providers.find((p) => p.service === 'local').quotas[0].used;
  assert.ok(used >= 4, `the stories created tasks (${used})`);
  await local.getByText(`${used} / 1000 today`).waitFor();
  await local.getByText('in flight of 8').waitFor();
  assert.equal(await page.locator('#users-table tr', { hasText: EMAIL }).locator('td').nth(2).innerText(), 'on');
  await noStrayText(page);
  await shot(page, 'desktop-13-admin');
  // A user created here can sign in.
  await page.fill('#create-user-form [name=email]', 'grace@example.com');
  await page.fill('#create-user-form [name=password]', 'another long password');
  await page.click('#create-user-form button[type=submit]');
  await page.locator('#users-table tr', { hasText: 'grace@example.com' }).waitFor();
  const signedIn = await fetch(`${server.url}/api/v1/sessions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'grace@example.com', password: 'another long password' }),
  });
  assert.equal(signedIn.status, 201);
  await page.setViewportSize({ width: PHONE.width, height: PHONE.height });
  await shot(page, 'phone-13-admin');
  await page.setViewportSize({ width: DESKTOP.width, height: DESKTOP.height });

  // Infinite scroll: 48 more small outputs; the gallery shows a page (40), then
  // the rest once scrolled to the end.
  for (let i = 0; i < 12; i += 1) {
    await api(server, 'POST', '/api/v1/tasks', {
      model: 'local/placeholder', input: { prompt: `grid ${i}`, width: 64, height: 64, num_images: 4 },
    });
  }
  let total = 0;
  for (let tries = 0; tries < 100; tries += 1) {
    const { tasks } = await api(server, 'GET', '/api/v1/tasks?status=completed&limit=500');
    total = tasks.reduce((sum, task) => sum + task.images.length, 0);
    if (tasks.filter((task) => /^grid /.test(task.input.prompt)).length === 12) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.ok(total > 48, `${total} outputs`);
  await page.click('[data-nav=gallery]');
  await page.locator('#gallery-grid .tile').nth(39).waitFor();
  assert.equal(await page.locator('#gallery-grid .tile').count(), 40, 'one page at first');
  await page.locator('#gallery-grid .tile').nth(39).scrollIntoViewIfNeeded();
  await page.mouse.wheel(0, 5000);
  await page.locator('#gallery-grid .tile').nth(total - 1).waitFor();
  assert.equal(await page.locator('#gallery-grid .tile').count(), total, 'the rest after scrolling');
  await page.getByText(`${total} outputs.`).waitFor();

  // The other filters, from the page: model, then dates (whole days, local time).
  await page.selectOption('#gallery-filters [name=model]', 'local/qr');
  await page.getByText('Nothing here yet.').waitFor();
  assert.equal(await page.locator('#gallery-grid .tile').count(), 0);
  await page.selectOption('#gallery-filters [name=model]', 'local/placeholder');
  await page.locator('#gallery-grid .tile').nth(39).waitFor();
  const day = (offset) => new Date(Date.now() + offset * 86_400_000).toLocaleDateString('en-CA');
  await page.fill('#gallery-filters [name=created_before]', day(-1));
  await page.locator('#gallery-filters [name=created_before]').dispatchEvent('change');
  await page.getByText('Nothing here yet.').waitFor();
  await page.goto(`${server.url}/#/gallery?created_after=${day(0)}&created_before=${day(0)}`);
  await page.locator('#gallery-grid .tile').nth(39).waitFor();
  await noStrayText(page);
  await shot(page, 'desktop-14-gallery-dates');
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(failures, []);
});

test('prompt trees: a root, generated for, branched, rated, pruned', async () => {
  assert.ok(recoveryCodes.length > 1, 'the desktop test enrolled two-factor first');
  const session = await open(DESKTOP);
  const { page, consoleErrors, failures } = session;
  await signIn(page, recoveryCodes[1]);
  await page.locator('#generate-form').waitFor();

  await page.click('[data-nav=prompts]');
  await page.fill('#new-prompt-form [name=content]', 'a lighthouse on a cliff at dusk');
  await page.click('#new-prompt-form button[type=submit]');
  const root = page.locator('#prompt-tree li[aria-level="1"] > .prompt-node');
  await root.waitFor();
  const rootId = await root.getAttribute('data-prompt');
  assert.match(rootId, /^prm_/);

  // Generate for it: the form starts from the prompt, and the task is linked.
  await root.locator('[data-action=generate-prompt]').click();
  await page.locator('#prompt-banner').waitFor();
  assert.equal(await page.inputValue('[name=in-prompt]'), 'a lighthouse on a cliff at dusk');
  await page.click('#generate-submit');
  await page.locator('.job[data-status=completed]').first().waitFor();
  await page.click('#prompt-banner a');
  await root.locator('[data-status=completed]').waitFor();
  await root.locator('.prompt-thumbs .tile').first().waitFor();

  // A branch: the edited prompt becomes a child; the original stays.
  await root.locator('[data-action=branch]').click();
  await root.locator('.branch-form [name=branch]').fill('a lighthouse on a cliff at dawn');
  await root.locator('.branch-form button[type=submit]').click();
  const child = page.locator('#prompt-tree li[aria-level="2"] > .prompt-node');
  await child.waitFor();
  assert.equal(await root.locator('[data-action=delete-prompt]').count(), 0, 'a prompt with branches cannot be deleted');
  const childId = await child.getAttribute('data-prompt');
  // The redrawn tree hands the focus back to the Branch button.
  await page.waitForFunction((id) => {
    const active = document.activeElement;
    return active?.dataset.action === 'branch' && active.closest('[data-prompt]')?.dataset.prompt === id;
  }, rootId);

  // Feedback: a comment typed on the root, then four stars on the branch. Saving
  // the stars redraws the tree: the focus stays on the star, the unsaved comment stays.
  await root.locator('[name=feedback_comment]').fill('too dark');
  await child.locator('.star[data-score="4"]').click();
  await child.locator('.star[data-score="4"][aria-checked=true]').waitFor();
  await page.waitForFunction((id) => {
    const active = document.activeElement;
    return active?.dataset.score === '4' && active.closest('[data-prompt]')?.dataset.prompt === id;
  }, childId);
  assert.equal(await root.locator('[name=feedback_comment]').inputValue(), 'too dark');
  await root.getByRole('button', { name: 'Save comment' }).click();
  // Redrawn from the server, the saved comment is the comment's saved value.
  await root.locator('[name=feedback_comment][data-saved="too dark"]').waitFor();
  await noStrayText(page);
  await shot(page, 'desktop-19-prompt-tree');
  const tree = await api(server, 'GET', `/api/v1/prompts/${rootId}/tree`);
  assert.equal(tree.feedback_comment, 'too dark');
  assert.equal(tree.tasks.length, 1);
  assert.equal(tree.tasks[0].status, 'completed');
  assert.equal(tree.children.length, 1);
  assert.equal(tree.children[0].feedback_score, 4);
  assert.equal(tree.children[0].content, 'a lighthouse on a cliff at dawn');

  // Pruned: the branch goes; the root can go then too.
  await child.locator('[data-action=delete-prompt]').click();
  await page.locator('dialog.confirm').getByRole('button', { name: 'Delete' }).click();
  await child.waitFor({ state: 'detached' });
  await root.locator('[data-action=delete-prompt]').waitFor();
  await page.setViewportSize({ width: PHONE.width, height: PHONE.height });
  await shot(page, 'phone-19-prompt-tree');
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(failures, []);
});

test('languages: Japanese and Chinese, chosen in the picker and kept', async () => {
  assert.ok(recoveryCodes.length > 2, 'the desktop test enrolled two-factor first');
  const session = await open(DESKTOP);
  const { page, consoleErrors, failures } = session;
  await signIn(page, recoveryCodes[2]);
  await page.locator('#generate-form').waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'en', 'English by default');

  /** Picks `code` in the language picker; the page reloads in it, on the same address. */
  async function choose(code, htmlLang) {
    const hash = new URL(page.url()).hash;
    await Promise.all([page.waitForEvent('load'), page.selectOption('#lang-picker', code)]);
    await page.locator(`html[lang="${htmlLang}"]`).waitFor({ state: 'attached' });
    assert.equal(new URL(page.url()).hash, hash, 'the route stays');
    assert.equal(await page.inputValue('#lang-picker'), code);
  }
  const nav = (key) => page.locator(`[data-nav=${key}]`).innerText();
  const chip = (status) => page.locator(`#task-list .task-row [data-status=${status}]`).first();

  // Japanese: the shell, the generate form, the gallery and the tasks.
  await choose('ja', 'ja');
  await page.locator('#generate-form').waitFor();
  assert.equal(await nav('generate'), '生成');
  assert.equal(await nav('gallery'), 'ギャラリー');
  assert.equal(await nav('tasks'), 'タスク');
  assert.equal(await page.locator('#generate-submit').innerText(), '生成');
  assert.equal(await page.title(), '生成 · Atelier');
  // (The generate form shows the model's own schema text, which may say "null".)
  await noStrayText(page, '#topbar');
  await shot(page, 'desktop-30-japanese');
  await page.click('[data-nav=gallery]');
  await page.locator('#gallery-grid .tile').first().waitFor();
  assert.equal(await page.locator('main h1').innerText(), 'ギャラリー');
  await page.click('[data-nav=tasks]');
  await chip('completed').waitFor();
  assert.equal(await chip('completed').innerText(), '完了');
  await noStrayText(page);
  // Kept across a reload.
  await page.reload();
  await chip('completed').waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'ja');
  assert.equal(await nav('tasks'), 'タスク');

  // Chinese, from the tasks page.
  await choose('zh', 'zh-Hans');
  await chip('completed').waitFor();
  assert.equal(await nav('generate'), '生成');
  assert.equal(await nav('gallery'), '图库');
  assert.equal(await nav('tasks'), '任务');
  assert.equal(await page.locator('main h1').innerText(), '任务');
  assert.equal(await chip('completed').innerText(), '完成');
  await noStrayText(page);
  await shot(page, 'desktop-31-chinese');

  // The sign-in page has the picker too: signed out in Chinese, back to English there.
  await page.click('#sign-out');
  await page.locator('#sign-in-form').waitFor();
  assert.equal(await page.locator('#sign-in-form h1').innerText(), '登录');
  await choose('en', 'en');
  await page.locator('#sign-in-form').waitFor();
  assert.equal(await page.locator('#sign-in-form h1').innerText(), 'Sign in');
  assert.equal(await page.title(), 'Sign in · Atelier');

  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(failures, []);
});
