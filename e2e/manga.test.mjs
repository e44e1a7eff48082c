// The Manga page (seed 001) end to end, in real Chromium against the real binary on
// the offline planner: a story too short is refused with the server's counts; the
// story (芥川龍之介「羅生門」) loaded from a .txt file starts a run with feedback on,
// to stop after phase 4 (phases 5 to 7 are e2e/manga-book.test.mjs's);
// at the phase-1 wait the title is edited inline and another genre picked; at the
// phase-2 wait a character is renamed; the run goes on to the end; on the storyboard
// a panel is dragged with the mouse, another moved with the keyboard, a balloon
// dragged; a change in words is proposed, its diff reviewed and applied; then the run
// is branched from the phase-2 version in the version tree and continued, the new
// phase-3 version a sibling of the old one's; a second run is cancelled. Each step is checked on the server too,
// every page is screenshotted and passes axe-core, and no page logs a console error
// or gets an HTTP error it did not expect.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  DESKTOP, PHONE, REPO, accessibilityViolations, api, createUser, launch, screenshot, startServer,
} from './harness.mjs';

const EMAIL = 'hokusai@example.com';
const PASSWORD = 'great wave off kanagawa';

let server;
let browser;
let story;

before(async () => {
  story = await readFile(path.join(REPO, 'crates/server/tests/data/rashomon.txt'), 'utf8');
  server = await startServer();
  await createUser(server, EMAIL, PASSWORD, 'member');
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A screenshot of the page, which must also pass axe-core's WCAG 2 AA checks. */
async function shot(page, name) {
  await screenshot(page, name);
  assert.deepEqual(await accessibilityViolations(page), [], `accessibility of ${name}`);
}

/** No part of the page shows a programming value where words belong. */
async function noStrayText(page, selector = 'main') {
  const text = await page.locator(selector).innerText();
  assert.doesNotMatch(text, /\b(null|undefined|NaN)\b|\[object Object\]/, text);
}

/** The server's own answer (with the admin key, which sees every run). */
function read(apiPath) {
  return api(server, 'GET', apiPath);
}

/** Polls `read` (every 100 ms, at most 30 s) until `check` holds for its answer. */
async function eventually(read, check, what) {
  const deadline = Date.now() + 30_000;
  let last;
  for (;;) {
    last = await read();
    if (check(last)) return last;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(last).slice(0, 400)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('manga: a story through four phases with feedback, a storyboard, a change in words and a branch', async () => {
  const launched = await launch({ viewport: DESKTOP, colorScheme: 'light' });
  browser = launched.browser;
  const { page, consoleErrors, failures, requests } = launched;

  await page.goto(server.url);
  await page.locator('#sign-in-form').waitFor();
  await page.fill('[name=email]', EMAIL);
  await page.fill('[name=password]', PASSWORD);
  await page.click('#sign-in-form button[type=submit]');
  await page.locator('#generate-form').waitFor();

  // The page, from the top bar: the form and no runs yet.
  await page.click('[data-nav=manga]');
  await page.locator('#manga-start-form').waitFor();
  await page.getByText('No runs yet.').waitFor();
  assert.equal(await page.locator('#manga-count').innerText(), '0 characters; a story needs 5,000 to 50,000.');
  await shot(page, 'manga-01-start');

  // Too short: the count says so as it is typed, and the server's refusal is shown.
  await page.fill('#manga-text', story.slice(0, 1200));
  assert.equal(await page.locator('#manga-count').innerText(), '1,200 characters; a story needs 5,000 to 50,000.');
  assert.equal(await page.locator('#manga-count.count-out').count(), 1);
  await page.click('#manga-start');
  const refusal = page.locator('#manga-start-error');
  await refusal.waitFor();
  assert.equal(await refusal.innerText(), 'The story has 1,200 characters; a story of 5,000 to 50,000 characters is needed.');
  assert.equal(await refusal.getAttribute('role'), 'alert');
  assert.equal(await page.getAttribute('#manga-text', 'aria-invalid'), 'true');
  // That refusal is the one expected error: Chromium logs every 4xx answer.
  assert.deepEqual(failures.splice(0), ['422 POST /api/v1/pipelines']);
  assert.deepEqual(consoleErrors.splice(0).map((e) => e.replace(/:\d+\//, ':PORT/')),
    ['console.error: Failed to load resource: the server responded with a status of 422 (Unprocessable Entity) (http://127.0.0.1:PORT/api/v1/pipelines:0)']);
  await shot(page, 'manga-02-refused');

  // The story from a .txt file: the text area fills, 5,769 characters.
  await page.setInputFiles('#manga-file', { name: 'rashomon.txt', mimeType: 'text/plain', buffer: Buffer.from(story) });
  await page.waitForFunction(() => document.querySelector('#manga-count')?.dataset.count === '5769');
  assert.equal(await page.locator('#manga-count').innerText(), '5,769 characters; a story needs 5,000 to 50,000.');
  assert.equal(await page.inputValue('#manga-text'), story);
  assert.equal(await page.isChecked('#manga-feedback'), true);
  await page.fill('#manga-wait', '600');
  await page.click('#manga-start-form details.advanced > summary');
  await page.selectOption('#manga-last-phase', '4');
  await page.click('#manga-start');
  await page.waitForURL(/#\/manga\?run=run_/);
  const runId = new URL(page.url()).hash.split('run=')[1];
  const runPath = `/api/v1/pipelines/${runId}`;
  const status = page.locator('#run-status');
  const waitFor = (state, phase) => page.locator(`#run-status[data-status="${state}"][data-phase="${phase}"]`).waitFor({ timeout: 30_000 });
  /** Waits until the editor shows `version` (after a change the page reads the run again). */
  const shown = (version) => page.locator(`#manga-edit[data-version="${version.id}"]`).waitFor();
  const head = async () => {
    const run = await read(runPath);
    return read(`${runPath}/versions/${run.head_version_id}`);
  };

  // Phase 1 waits: its preview, its countdown, the concept editor.
  await waitFor('waiting_input', 1);
  assert.equal(await status.innerText(), 'Phase 1 (Concept and world) is done and waits for your feedback.');
  assert.match(await page.locator('#run-countdown').innerText(), /^Goes on by itself in (9|10):\d\d$/);
  assert.deepEqual(await page.locator('.phases > li').evaluateAll((items) => items.map((li) => li.dataset.state)),
    ['current', 'pending', 'pending', 'pending', 'pending', 'pending', 'pending']);
  // The preview: the server's SVG, drawn inline.
  await page.locator('#manga-preview-frame svg[role=img] text').first().waitFor();
  assert.ok(requests.some((p) => p === `${runPath}/events`), 'the page follows the run on its event stream');
  const first = await head();
  const started = await read(runPath);
  assert.deepEqual(started.settings.feedback_mode, { enabled: true, timeout_seconds: 600 });
  assert.equal(started.settings.last_phase, 4);
  assert.equal(started.settings.deadline_seconds, 600, 'the server default: its clock stops while a run waits');
  assert.equal(await page.inputValue('[data-element="concept.title"]'), first.document.concept.title);
  await noStrayText(page);
  await shot(page, 'manga-03-phase-1');

  // Feedback at phase 1: the title edited inline (text_edit) ...
  await page.fill('[data-element="concept.title"]', '羅生門 (漫画)');
  await page.press('[data-element="concept.title"]', 'Enter');
  await shown(await eventually(head, (version) => version.document.concept.title === '羅生門 (漫画)', 'the title edit'));
  await page.locator('#manga-title', { hasText: '羅生門 (漫画)' }).waitFor();
  // ... and another genre picked among the alternatives (selection).
  const genres = first.document.concept.alternatives.genre;
  const other = genres.findIndex((genre) => genre !== first.document.concept.genre);
  await page.click(`[data-choice=genre][data-index="${other}"]`);
  await page.locator(`[data-choice=genre][data-index="${other}"][aria-pressed=true]`).waitFor();
  const chosen = await head();
  assert.equal(chosen.document.concept.genre, genres[other]);
  assert.equal(chosen.kind, 'feedback');
  assert.equal(chosen.changes[0].change_type, 'selection');
  assert.equal(await page.inputValue('[data-element="concept.genre"]'), genres[other]);
  await page.locator('.version-node[data-kind=feedback]').nth(1).waitFor();
  await shot(page, 'manga-04-phase-1-feedback');

  // Continue: phase 2 waits, with the character sheets.
  await page.click('[data-action=continue]');
  await waitFor('waiting_input', 2);
  await page.locator('[data-element="characters.1.name"]').waitFor();
  const characters = (await head()).document.characters;
  const renamed = characters[1].name;
  assert.equal(await page.inputValue('[data-element="characters.1.name"]'), renamed);
  await page.waitForFunction(() => [...document.querySelectorAll('.character-card img.sheet')].every((img) => img.naturalWidth > 0));
  assert.equal(await page.locator('.character-card img.sheet').count(), characters.length);
  // The preview draws the sheets too (inline, so its images load).
  await page.locator(`#manga-preview-frame[data-version="${(await head()).id}"] svg image`).nth(characters.length - 1).waitFor();
  await page.fill('[data-element="characters.1.name"]', '老女');
  await page.press('[data-element="characters.1.name"]', 'Tab');
  const afterRename = await eventually(head, (version) => version.document.characters[1].name === '老女', 'the rename');
  await shown(afterRename);
  assert.match(afterRename.changes[0].summary, new RegExp(`mentions of ${renamed} renamed`));
  await page.locator('.character-card h3', { hasText: '老女' }).waitFor();
  await noStrayText(page);
  await shot(page, 'manga-05-phase-2');

  // Continue twice: phase 3 waits, then phase 4 ends the run.
  await page.click('[data-action=continue]');
  await waitFor('waiting_input', 3);
  await page.locator('details.scene').first().waitFor();
  // The style (style_adjust): the line weight from the keyboard, colour; only what changed is sent.
  await page.focus('[name="style-line_weight"]');
  for (let step = 0; step < 6; step += 1) await page.keyboard.press('ArrowRight');
  await page.selectOption('[name="style-color_mode"]', 'color');
  await page.click('#style-form button[type=submit]');
  const styled = await eventually(head, (version) => version.changes[0]?.change_type === 'style_adjust', 'the style');
  await shown(styled);
  assert.deepEqual(styled.document.style, { line_weight: 0.8, color_mode: 'color' });
  await page.locator('#style-form [name="style-color_mode"][data-saved=color]').waitFor();
  await noStrayText(page);
  await shot(page, 'manga-06-phase-3');
  await page.click('[data-action=continue]');
  await waitFor('completed', 4);
  assert.equal(await status.innerText(), 'Done: the last phase, 4 (Name (storyboard)), is finished.');
  assert.deepEqual(await page.locator('.phases > li').evaluateAll((items) => items.map((li) => li.dataset.state)),
    ['done', 'done', 'done', 'done', 'pending', 'pending', 'pending']);
  assert.deepEqual(await page.locator('.phases > li[data-state=pending] .phase-state').allInnerTexts(),
    ['Not in this run', 'Not in this run', 'Not in this run'], 'the phases after the last one asked for');
  assert.equal(await page.locator('[data-action=continue], [data-action=cancel]').count(), 0, 'an ended run has no controls');
  await page.locator('#storyboard .sb-panel').first().waitFor();
  const done = await read(runPath);
  assert.equal(done.status, 'completed');

  // The storyboard: a panel dragged with the mouse moves on the server.
  const board = await head();
  const panels = board.document.pages[0].panels;
  assert.equal(await page.locator('#storyboard .sb-panel').count(), panels.length);
  const target = page.locator(`#storyboard .sb-panel[data-panel="${panels[1].id}"]`);
  const box = await target.boundingBox();
  const sheet = await page.locator('#storyboard').boundingBox();
  // 40 px down, or up when the panel has no room below.
  const before = panels[1].frame;
  const dy = before.y + before.h + 40 / sheet.height <= 1 ? 40 : -40;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2 + 4, box.y + box.height / 2 + dy / 2, { steps: 6 });
  await page.mouse.move(box.x + box.width / 2 + 4, box.y + box.height / 2 + dy, { steps: 6 });
  await page.mouse.up();
  const dragged = await eventually(head, (version) => version.document.pages[0].panels[1].frame.y !== before.y, 'the dragged panel');
  const frame = dragged.document.pages[0].panels[1].frame;
  assert.ok(Math.abs(frame.y - (before.y + dy / sheet.height)) < 0.01, `moved by ${dy} px of ${sheet.height}: ${JSON.stringify(before)} → ${JSON.stringify(frame)}`);
  assert.ok(frame.x >= 0 && frame.x + frame.w <= 1 + 1e-9 && frame.y >= 0 && frame.y + frame.h <= 1 + 1e-9, 'kept on the page');
  assert.deepEqual([frame.w, frame.h], [before.w, before.h], 'the same size');
  assert.equal(dragged.changes[0].change_type, 'drag_drop');
  // The storyboard is drawn again from the new version, the panel still focused.
  await shown(dragged);
  await page.waitForFunction((id) => document.activeElement?.dataset.panel === id, panels[1].id);

  // A panel moved with the keyboard: two steps (0.01 of the page each) where it has
  // room, then Enter saves.
  const start = panels[2].frame;
  const [key, axis, sign] = start.x >= 0.02 ? ['ArrowLeft', 'x', -1] : start.x + start.w <= 0.98 ? ['ArrowRight', 'x', 1]
    : start.y >= 0.02 ? ['ArrowUp', 'y', -1] : ['ArrowDown', 'y', 1];
  const expected = { ...start, [axis]: start[axis] + sign * 0.02 };
  const third = page.locator(`#storyboard .sb-panel[data-panel="${panels[2].id}"]`);
  await third.focus();
  await page.keyboard.press(key);
  await page.keyboard.press(key);
  await page.locator(`#storyboard .sb-panel.unsaved[data-panel="${panels[2].id}"]`).waitFor();
  const pct = (fraction) => `${Math.round(fraction * 100)}%`;
  assert.equal(await page.locator('#sb-live').innerText(),
    `Panel 3: left ${pct(expected.x)}, top ${pct(expected.y)}, width ${pct(expected.w)}, height ${pct(expected.h)} (not saved: Enter saves, Escape puts it back)`);
  await page.keyboard.press('Enter');
  const keyed = await eventually(head, (version) => version.document.pages[0].panels[2].frame[axis] !== start[axis], 'the keyboard move');
  assert.ok(Math.abs(keyed.document.pages[0].panels[2].frame[axis] - expected[axis]) < 1e-6, `two steps of 0.01: ${JSON.stringify(keyed.document.pages[0].panels[2].frame)}`);
  // Escape puts an unsaved move back.
  await shown(keyed);
  await page.waitForFunction((id) => document.activeElement?.dataset.panel === id, panels[2].id);
  await page.keyboard.press(key === 'ArrowLeft' ? 'ArrowRight' : 'ArrowLeft');
  await page.locator('#storyboard .sb-panel.unsaved').waitFor();
  await page.keyboard.press('Escape');
  await page.locator('#storyboard .sb-panel.unsaved').waitFor({ state: 'detached' });

  // A balloon dragged.
  const line = panels[0].dialogue[0];
  const balloon = page.locator(`#storyboard .sb-balloon[data-balloon="${line.id}"]`);
  const spot = await balloon.boundingBox();
  await page.mouse.move(spot.x + spot.width / 2, spot.y + spot.height / 2);
  await page.mouse.down();
  await page.mouse.move(spot.x + spot.width / 2 - 30, spot.y + spot.height / 2 + 15, { steps: 8 });
  await page.mouse.up();
  const moved = await eventually(head, (version) => version.document.pages[0].panels[0].dialogue[0].position.x !== line.position.x, 'the dragged balloon');
  assert.ok(moved.document.pages[0].panels[0].dialogue[0].position.x < line.position.x);
  await shown(moved);
  await page.locator(`#storyboard .sb-panel[data-panel="${panels[1].id}"]`).click();
  await page.locator('#sb-inspector h3', { hasText: 'Panel 2' }).waitFor();
  await noStrayText(page);
  await shot(page, 'manga-07-storyboard');

  // A change in words: proposed, its diff shown, then applied.
  const versionsBefore = (await read(`${runPath}/versions`)).versions.length;
  await page.fill('#proposal-text', 'split page 1; make it sparkle');
  await page.click('#proposal-send');
  const proposal = page.locator('#proposal-result');
  await proposal.waitFor();
  assert.match(await proposal.locator('.proposal-summary').innerText(), new RegExp(`page 1 split into ${panels.length + 1} panels`));
  assert.match(await page.locator('#proposal-not-understood').innerText(), /make it sparkle/);
  assert.ok(await page.locator('#proposal-diff li').count() >= 2, 'the diff is listed');
  await page.locator('#proposal-diff li[data-op=add]', { hasText: `pages.0.panels.${panels.length}` }).waitFor();
  assert.equal((await read(`${runPath}/versions`)).versions.length, versionsBefore, 'nothing applied before Apply');
  await noStrayText(page, '#proposal-form');
  await shot(page, 'manga-08-proposal');
  await page.click('#proposal-apply');
  await page.locator('#proposal-result').waitFor({ state: 'detached' });
  const applied = await eventually(head, (version) => version.document.pages[0].panels.length === panels.length + 1, 'the applied proposal');
  assert.equal(applied.changes[0].change_type, 'natural_language');
  await shown(applied);
  await page.waitForFunction((n) => document.querySelectorAll('#storyboard .sb-panel').length === n, panels.length + 1);

  // The version tree: every version listed; branch from the phase-2 result.
  const tree = await read(`${runPath}/versions`);
  await page.waitForFunction((n) => document.querySelectorAll('#version-tree .version-node').length === n, tree.versions.length);
  const phase2 = tree.versions.find((version) => version.phase === 2 && version.kind === 'phase');
  // Its one child so far: the rename made at the phase-2 wait.
  const [oldChild] = tree.versions.filter((version) => version.parent_id === phase2.id);
  assert.equal(oldChild.kind, 'feedback');
  await page.locator(`.version-node[data-version="${phase2.id}"] [data-action=branch]`).click();
  await waitFor('waiting_input', 2);
  await page.locator(`.version-node[data-version="${phase2.id}"][data-head=true]`).waitFor();
  const branched = await read(runPath);
  assert.deepEqual([branched.status, branched.phase, branched.head_version_id], ['waiting_input', 2, phase2.id]);
  assert.match(await page.locator('.run-note').innerText(), /branched from version/);
  await shown(phase2);
  assert.equal(await page.inputValue('[data-element="characters.1.name"]'), renamed, 'the phase-2 result, before the rename');
  await shot(page, 'manga-09-branched');

  // Continue from the branch: a new phase-3 version, a child of the phase-2 one; the
  // older versions stay listed.
  await page.click('[data-action=continue]');
  await waitFor('waiting_input', 3);
  const grown = await eventually(() => read(`${runPath}/versions`),
    (answer) => answer.versions.length === tree.versions.length + 1, 'the new phase-3 version');
  const newPhase3 = grown.versions.find((version) => version.is_head);
  assert.deepEqual([newPhase3.phase, newPhase3.kind, newPhase3.parent_id], [3, 'phase', phase2.id]);
  for (const version of tree.versions) assert.ok(grown.versions.some((kept) => kept.id === version.id), `${version.id} is kept`);
  await page.waitForFunction((n) => document.querySelectorAll('#version-tree .version-node').length === n, grown.versions.length);
  // In the page: the phase-2 version has two branches, the rename and the new phase 3.
  const branches = page.locator(`#version-tree li:has(> .version-node[data-version="${phase2.id}"]) > ul.branch > li:first-child > .version-node`);
  assert.deepEqual((await branches.evaluateAll((nodes) => nodes.map((node) => node.dataset.version))).sort(), [oldChild.id, newPhase3.id].sort());
  await page.locator(`.version-node[data-version="${newPhase3.id}"][data-head=true]`).waitFor();
  await noStrayText(page);
  await shot(page, 'manga-10-branch-continued');

  // Stop here, then resume: the controls follow the status.
  await page.click('[data-action=stop]');
  await waitFor('paused', 3);
  assert.equal(await page.locator('[data-action=continue]').count(), 0);
  await page.click('[data-action=resume]');
  await page.locator('#run-status[data-phase="4"]').waitFor();
  await waitFor('completed', 4);

  // The run page in the dark theme, then in Japanese.
  await page.click('#theme-toggle');
  await page.locator('html[data-theme=dark]').waitFor({ state: 'attached' });
  await shot(page, 'manga-11-dark');
  await page.click('#theme-toggle');
  await Promise.all([page.waitForEvent('load'), page.selectOption('#lang-picker', 'ja')]);
  await page.locator('#run-status[data-status=completed]').waitFor();
  assert.equal(await page.locator('[data-nav=manga]').innerText(), 'マンガ');
  assert.equal(await status.innerText(), '完了: 最後のフェーズ 4（ネーム（絵コンテ））が終わりました。');
  assert.equal(await page.locator('#versions-title').innerText(), 'バージョン');
  await noStrayText(page);
  await shot(page, 'manga-12-japanese');
  await Promise.all([page.waitForEvent('load'), page.selectOption('#lang-picker', 'en')]);
  await page.locator('#run-status[data-status=completed]').waitFor();

  // Another run, cancelled at its first wait (after confirming): its versions stay, not editable.
  await page.click('[data-nav=manga]');
  await page.locator('#manga-start-form').waitFor();
  await page.fill('#manga-text', story);
  await page.click('#manga-start');
  await page.waitForURL((url) => url.hash.includes('run=') && !url.hash.includes(runId));
  const second = new URL(page.url()).hash.split('run=')[1];
  await waitFor('waiting_input', 1);
  await page.click('[data-action=cancel]');
  const confirm = page.locator('dialog.confirm');
  await confirm.waitFor();
  await confirm.getByRole('button', { name: 'Cancel the run' }).click();
  await waitFor('cancelled', 1);
  assert.equal((await read(`/api/v1/pipelines/${second}`)).status, 'cancelled');
  assert.equal(await page.locator('#manga-editor fieldset.editor-fields[disabled]').count() > 0, true, 'the editor is read-only');
  await page.getByText('This run was cancelled').waitFor();
  assert.equal(await page.locator('[data-action=branch]').count(), 0, 'a cancelled run cannot be branched');
  await shot(page, 'manga-13-cancelled');

  // The runs list shows both runs; on a phone the run page reads in one column.
  await page.click('[data-nav=manga]');
  await page.locator(`#manga-runs .run-card[data-run="${runId}"][data-status=completed]`).waitFor();
  await page.locator(`#manga-runs .run-card[data-run="${second}"][data-status=cancelled]`).waitFor();
  await page.setViewportSize({ width: PHONE.width, height: PHONE.height });
  await shot(page, 'phone-manga-01-start');
  await page.click(`#manga-runs .run-card[data-run="${runId}"]`);
  await page.locator('#storyboard .sb-panel').first().waitFor();
  await shot(page, 'phone-manga-02-run');

  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(failures, []);
});
