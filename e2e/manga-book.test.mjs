// The Manga page's phases 5 to 7 and the reader (seed 001), in real Chromium against
// the real binary on the offline engines (local/planner, local/placeholder, the
// letterer and the binder): a run started from the page goes through phases 1 to 4;
// at phase 5 one panel is drawn again from its menu (with a seed and words) and its
// image changes, the earlier image is picked back, and a crop is applied; at phase 6
// a balloon is moved with the keyboard and dragged with the mouse, its text edited
// in place, its kind and type changed, each checked in the server's new version; at
// the end the quality report leads to the element a problem names and the PDF and
// CBZ links download without a session; the reader shows two-page spreads right to
// left on a wide screen and single pages on a phone, turned with the keyboard and
// with swipes, and zooms. Screenshots: e2e/screenshots/manga-lettered-page.png and
// manga-reader.png (for the README), and each step's page, which passes axe-core.

import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  DESKTOP, PHONE, REPO, SCREENSHOTS, accessibilityViolations, api, createUser, launch, screenshot, startServer,
} from './harness.mjs';

const EMAIL = 'sesshu@example.com';
const PASSWORD = 'autumn and winter landscapes';

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

/**
 * A full-page screenshot (from the top, where the sticky top bar belongs) that must
 * also pass axe-core's WCAG 2 AA checks.
 */
async function shot(page, name) {
  await page.evaluate(() => window.scrollTo(0, 0));
  await screenshot(page, name);
  assert.deepEqual(await accessibilityViolations(page), [], `accessibility of ${name}`);
}

/**
 * A screenshot of one element, at `<SCREENSHOTS>/<name>.png`: cut from the whole
 * page, so the sticky top bar never covers it; the toasts are let go first.
 */
async function elementShot(page, selector, name) {
  await mkdir(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  const clip = await page.evaluate((within) => {
    document.getElementById('toasts')?.replaceChildren();
    window.scrollTo(0, 0);
    const box = document.querySelector(within).getBoundingClientRect();
    return { x: box.left + window.scrollX, y: box.top + window.scrollY, width: box.width, height: box.height };
  }, selector);
  await page.screenshot({ path: file, fullPage: true, clip });
  console.log(`screenshot: ${file}`);
  return file;
}

/** Waits until every image drawn in `selector` (SVG <image> and <img>) has loaded. */
async function imagesLoaded(page, selector) {
  await page.evaluate(async (within) => {
    const root = document.querySelector(within);
    const sources = [...root.querySelectorAll('image')].map((image) => image.getAttribute('href'))
      .concat([...root.querySelectorAll('img')].map((img) => img.currentSrc || img.src));
    await Promise.all(sources.map((src) => new Promise((resolve) => {
      const probe = new Image();
      probe.onload = resolve;
      probe.onerror = resolve;
      probe.src = src;
    })));
  }, selector);
}

/** The server's own answer (with the admin key, which sees every run). */
function read(apiPath) {
  return api(server, 'GET', apiPath);
}

/** Polls `read` (every 100 ms, at most 60 s) until `check` holds for its answer. */
async function eventually(reader, check, what) {
  const deadline = Date.now() + 60_000;
  let last;
  for (;;) {
    last = await reader();
    if (check(last)) return last;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(last).slice(0, 400)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('manga book: panels drawn again, balloons moved and edited, the quality report, and the reader right to left', async () => {
  const launched = await launch({ viewport: DESKTOP, colorScheme: 'light' });
  browser = launched.browser;
  const { page, consoleErrors, failures } = launched;

  await page.goto(server.url);
  await page.locator('#sign-in-form').waitFor();
  await page.fill('[name=email]', EMAIL);
  await page.fill('[name=password]', PASSWORD);
  await page.click('#sign-in-form button[type=submit]');
  await page.locator('#generate-form').waitFor();

  // A run of all seven phases, started from the page.
  await page.click('[data-nav=manga]');
  await page.locator('#manga-start-form').waitFor();
  await page.fill('#manga-text', story);
  await page.fill('#manga-wait', '600');
  await page.click('#manga-start-form details.advanced > summary');
  assert.equal(await page.locator('#manga-last-phase option').count(), 7, 'all seven phases, or stop after one of the first six');
  await page.selectOption('#manga-direction', 'rtl');
  await page.fill('#manga-parallel', '4');
  await page.click('#manga-start');
  await page.waitForURL(/#\/manga\?run=run_/);
  const runId = new URL(page.url()).hash.split('run=')[1];
  const runPath = `/api/v1/pipelines/${runId}`;
  const started = await read(runPath);
  assert.deepEqual(started.settings.options, { reading_direction: 'rtl', max_parallel: 4 });
  assert.equal(started.phases.length, 7);
  const waitFor = (state, phase) => page.locator(`#run-status[data-status="${state}"][data-phase="${phase}"]`).waitFor({ timeout: 60_000 });
  const shown = (version) => page.locator(`#manga-edit[data-version="${version.id}"]`).waitFor();
  const head = async () => {
    const run = await read(runPath);
    return read(`${runPath}/versions/${run.head_version_id}`);
  };

  // Phase 1: a book of 8 pages (the planner's 14 take twice as long to draw, letter and bind).
  await waitFor('waiting_input', 1);
  await page.fill('[data-element="concept.page_count"]', '8');
  await page.press('[data-element="concept.page_count"]', 'Tab');
  await shown(await eventually(head, (version) => version.document.concept.page_count === 8, 'the page count'));

  // Phases 1 to 4, each continued at its wait.
  for (let phase = 1; phase <= 4; phase += 1) {
    await waitFor('waiting_input', phase);
    await page.click('[data-action=continue]');
  }

  // Phase 5 draws the panels: the part shows them waiting for their images, with
  // the count from the run's progress events.
  await page.locator('#art-progress[data-art-progress=drawing]').waitFor({ timeout: 60_000 });
  await page.locator('#art-sheet .art-panel').first().waitFor();
  await waitFor('waiting_input', 5);
  const drawn = await head();
  assert.equal(drawn.phase, 5);
  assert.equal(drawn.document.pages.length, 8);
  const panels = drawn.document.pages[0].panels;
  const art = new Map(drawn.document.art.panels.map((entry) => [entry.id, entry]));
  await shown(drawn);
  assert.equal(await page.locator('#art-sheet .art-panel').count(), panels.length);
  for (const panel of panels) {
    await page.locator(`#art-sheet .art-panel[data-panel="${panel.id}"][data-asset="${art.get(panel.id).asset_id}"] svg image`).waitFor({ state: 'attached' });
  }
  assert.match(await page.locator('#art-progress').innerText(), new RegExp(`^${art.size} of ${art.size} panels have an image\\.$`));
  await imagesLoaded(page, '#art-sheet');
  await shot(page, 'manga-book-01-panels');

  // One panel drawn again from its menu, with a seed and words: the run draws it and
  // waits at phase 5 again; its image changes and the old one becomes a variant.
  const target = panels[1].id;
  const before5 = art.get(target).asset_id;
  await page.click(`#art-sheet .art-panel[data-panel="${target}"]`);
  await page.locator(`#art-inspector .art-details[data-panel="${target}"]`).waitFor();
  await page.fill('#art-seed', '7');
  await page.fill('#art-words', 'at night');
  await page.click('#art-regenerate');
  const redrawn = await eventually(head, (version) => version.phase === 5 && version.kind === 'phase'
    && version.document.art.panels.find((entry) => entry.id === target).asset_id !== before5, 'the panel drawn again');
  const again = redrawn.document.art.panels.find((entry) => entry.id === target);
  assert.deepEqual(again.variants.map((variant) => variant.asset_id), [before5]);
  for (const [id, entry] of art) {
    if (id !== target) assert.equal(redrawn.document.art.panels.find((each) => each.id === id).asset_id, entry.asset_id, `${id} is kept`);
  }
  await waitFor('waiting_input', 5);
  await page.locator(`#art-sheet .art-panel[data-panel="${target}"][data-asset="${again.asset_id}"]`).waitFor();
  const asked = (await read(`${runPath}/versions`)).versions.find((version) => version.description.includes('(regenerate)'));
  const regenerate = await read(`${runPath}/versions/${asked.id}`);
  assert.deepEqual([regenerate.changes[0].request.element_id, regenerate.changes[0].request.change_data],
    [`art.panels.${target}`, { seed: 7, words: 'at night' }]);

  // The earlier image picked back (selection of a variant), then a crop.
  await page.click(`#art-sheet .art-panel[data-panel="${target}"]`);
  await page.click('#art-inspector [data-variant="0"]');
  const picked = await eventually(head, (version) => version.document.art.panels.find((entry) => entry.id === target).asset_id === before5, 'the variant picked');
  await shown(picked);
  await page.locator(`#art-sheet .art-panel[data-panel="${target}"][data-asset="${before5}"]`).waitFor();
  await page.locator(`#art-sheet .art-panel[data-panel="${target}"]`).click();
  for (const [name, value] of [['x', '5'], ['y', '10'], ['w', '90'], ['h', '80']]) await page.fill(`#art-crop-${name}`, value);
  await page.click('#art-crop-apply');
  const cropped = await eventually(head, (version) => version.document.art.panels.find((entry) => entry.id === target).crop, 'the crop');
  assert.deepEqual(cropped.document.art.panels.find((entry) => entry.id === target).crop, { x: 0.05, y: 0.1, w: 0.9, h: 0.8 });
  await shown(cropped);
  const image = cropped.document.art.panels.find((entry) => entry.id === target);
  const viewBox = (await page.locator(`#art-sheet .art-panel[data-panel="${target}"] svg.framed`).getAttribute('viewBox')).split(' ').map(Number);
  const expectedBox = [0.05 * image.width, 0.1 * image.height, 0.9 * image.width, 0.8 * image.height];
  assert.ok(viewBox.every((n, index) => Math.abs(n - expectedBox[index]) < 0.01), `the panel shows its crop: ${viewBox}`);

  // Phase 6: the lettered pages.
  await page.click('[data-action=continue]');
  await waitFor('waiting_input', 6);
  const lettered = await head();
  assert.equal(lettered.phase, 6);
  await shown(lettered);
  // A page with balloons, and a sound effect where one has.
  const letteredPages = lettered.document.lettering.pages;
  const withEffect = letteredPages.findIndex((each) => each.balloons.length > 0 && each.effects.some((effect) => effect.kind === 'sfx'));
  const pageIndex = withEffect >= 0 ? withEffect : letteredPages.findIndex((each) => each.balloons.length > 0);
  assert.ok(pageIndex >= 0, 'a page has balloons');
  if (pageIndex > 0) await page.selectOption('#lt-page-picker', String(pageIndex));
  const balloon = lettered.document.lettering.pages[pageIndex].balloons[0];
  const key = `lettering.pages.${pageIndex}.balloons.${balloon.id}`;
  const frameOf = (version) => version.document.lettering.pages[pageIndex].balloons.find((each) => each.id === balloon.id).frame;
  const element = page.locator(`#lettering-sheet .lt-balloon[data-balloon="${balloon.id}"]`);
  await element.waitFor();
  assert.equal(await page.locator('#lettering-sheet .lt-balloon').count(), lettered.document.lettering.pages[pageIndex].balloons.length);

  // The keyboard: two steps (1 % of the page each) where the balloon has room, Enter saves.
  const start = balloon.frame;
  const [arrow, axis, sign] = start.x >= 0.02 ? ['ArrowLeft', 'x', -1] : ['ArrowRight', 'x', 1];
  await element.focus();
  await page.keyboard.press(arrow);
  await page.keyboard.press(arrow);
  await page.locator(`#lettering-sheet .lt-balloon.unsaved[data-balloon="${balloon.id}"]`).waitFor();
  assert.match(await page.locator('#lt-live').innerText(), /\(not saved: Enter saves, Escape puts it back\)$/);
  await page.keyboard.press('Enter');
  const keyed = await eventually(head, (version) => version.phase === 6 && Math.abs(frameOf(version)[axis] - (start[axis] + sign * 0.02)) < 1e-6, 'the balloon moved with the keyboard');
  assert.equal(keyed.changes[0].change_type, 'drag_drop');
  assert.deepEqual([frameOf(keyed).w, frameOf(keyed).h], [start.w, start.h], 'the same size');
  await shown(keyed);
  await page.waitForFunction((id) => document.activeElement?.dataset.key === id, key);

  // The mouse: dragged 30 px down (or up where there is no room), and resized by its corner.
  const sheet = await page.locator('#lettering-sheet').boundingBox();
  const box = await element.boundingBox();
  const dy = frameOf(keyed).y + frameOf(keyed).h + 30 / sheet.height <= 1 ? 30 : -30;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2 + dy / 2, { steps: 5 });
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2 + dy, { steps: 5 });
  await page.mouse.up();
  const dragged = await eventually(head, (version) => Math.abs(frameOf(version).y - frameOf(keyed).y) > 0.005, 'the dragged balloon');
  assert.ok(Math.abs(frameOf(dragged).y - (frameOf(keyed).y + dy / sheet.height)) < 0.01, `${JSON.stringify(frameOf(keyed))} → ${JSON.stringify(frameOf(dragged))}`);
  await shown(dragged);

  // Double-click: the text edited in place; Enter saves it.
  await element.dblclick();
  const editor = page.locator(`#lettering-sheet textarea.lt-edit[data-balloon="${balloon.id}"]`);
  await editor.waitFor();
  assert.equal(await editor.inputValue(), balloon.text);
  await editor.fill('羅生門の下で、雨やみを待つ。');
  await editor.press('Enter');
  const edited = await eventually(head, (version) => version.document.lettering.pages[pageIndex].balloons.find((each) => each.id === balloon.id).text === '羅生門の下で、雨やみを待つ。', 'the text edited in place');
  assert.equal(edited.changes[0].change_type, 'text_edit');
  await shown(edited);
  await page.locator(`#lettering-sheet .lt-balloon[data-balloon="${balloon.id}"] .lt-text`, { hasText: '羅生門の下で' }).waitFor();

  // Its kind (text_edit on .kind), then its type: size and weight (style_adjust).
  await element.click();
  await page.selectOption(`[data-element="${key}.kind"]`, 'shout');
  const shouted = await eventually(head, (version) => version.document.lettering.pages[pageIndex].balloons.find((each) => each.id === balloon.id).kind === 'shout', 'the kind');
  await shown(shouted);
  await page.locator(`#lettering-sheet .lt-balloon.k-shout[data-balloon="${balloon.id}"]`).waitFor();
  await page.fill('#lt-font-size', '2');
  await page.check('#lt-bold');
  await page.click('[data-key=lt-style-apply]');
  const styled = await eventually(head, (version) => version.changes[0]?.change_type === 'style_adjust', 'the type');
  const styledBalloon = styled.document.lettering.pages[pageIndex].balloons.find((each) => each.id === balloon.id);
  assert.deepEqual([styledBalloon.font_size, styledBalloon.bold], [0.02, true]);
  await shown(styled);
  await page.locator(`#lettering-sheet .lt-balloon.bold[data-balloon="${balloon.id}"]`).waitFor();
  await imagesLoaded(page, '#lettering-sheet');
  await elementShot(page, '#manga-editor .lettering-editor', 'manga-lettered-page');
  await shot(page, 'manga-book-02-lettering');

  // Phase 7: the final check and the book; the run ends.
  await page.click('[data-action=continue]');
  await waitFor('completed', 7);
  const bound = await head();
  assert.equal(bound.phase, 7);
  await shown(bound);
  await page.locator('#manga-report').waitFor();
  const problems = bound.document.report.problems;
  if (problems.length) {
    assert.equal(await page.locator('#report-problems .problem').count(), problems.length);
  } else {
    await page.locator('#report-clean').waitFor();
  }
  await page.locator('#book-pdf').waitFor();
  await shot(page, 'manga-book-03-report');

  // The PDF and the CBZ: signed links that need no session.
  for (const [id, magic, type] of [['#book-pdf', '%PDF', 'application/pdf'], ['#book-cbz', 'PK', 'application/vnd.comicbook+zip']]) {
    const href = await page.getAttribute(id, 'href');
    assert.match(href, /^\/api\/v1\/shared\/img_\w+\?expires=\d+&signature=[0-9a-f]+$/);
    const response = await fetch(server.url + href);
    assert.equal(response.status, 200, `${id} downloads`);
    assert.equal(response.headers.get('content-type'), type);
    assert.equal(Buffer.from(await response.arrayBuffer()).subarray(0, magic.length).toString('latin1'), magic);
  }

  // A problem of the report leads to the element it names.
  const problem = problems.find((each) => /^lettering\.pages\.\d+\.balloons\./.test(each.element_id)) || problems[0];
  if (problem) {
    await page.click(`#report-problems .problem[data-element="${problem.element_id}"]`);
    const match = problem.element_id.match(/^lettering\.pages\.(\d+)\.balloons\.(.+)$/);
    if (match) {
      const list = bound.document.lettering.pages[Number(match[1])].balloons;
      const named = list.find((each) => each.id === match[2]) || list[Number(match[2])];
      const named_key = `lettering.pages.${match[1]}.balloons.${named.id}`;
      await page.waitForFunction((id) => document.activeElement?.dataset.key === id, named_key);
      assert.equal(await page.locator('[data-part=lettering][aria-pressed=true]').count(), 1);
      assert.equal(await page.inputValue('#lt-page-picker'), match[1]);
    }
    await page.click('[data-part=report]');
    await page.locator('#manga-report').waitFor();
  }

  // The reader, from the run page: two pages side by side, right to left.
  const book = bound.document.book;
  assert.equal(book.right_to_left, true);
  await page.click('#manga-read');
  await page.waitForURL(new RegExp(`#/manga/${runId}/read$`));
  const stage = page.locator('#reader-stage');
  const showing = (pages) => page.locator(`#reader-stage[data-pages="${pages}"]`).waitFor();
  await showing('1,2');
  assert.equal(await stage.getAttribute('data-mode'), 'spread');
  await page.waitForFunction(() => [...document.querySelectorAll('#reader-spread img')].every((img) => img.complete && img.naturalWidth > 0));
  const first = await page.locator('#reader-spread img[data-page="1"]').boundingBox();
  const second = await page.locator('#reader-spread img[data-page="2"]').boundingBox();
  assert.ok(first.x > second.x, `page 1 on the right of page 2 (${first.x} > ${second.x})`);
  assert.equal(await page.locator('#reader-where').innerText(), `Pages 1 and 2 of ${book.page_count}`);
  await shot(page, 'manga-reader');

  // The keyboard: ArrowLeft goes forward in a book read right to left.
  await page.keyboard.press('ArrowLeft');
  await showing('3,4');
  assert.match(page.url(), /\/read\?page=3$/);
  await page.keyboard.press('ArrowLeft');
  await showing('5,6');
  await page.keyboard.press('ArrowRight');
  await showing('3,4');
  await page.keyboard.press('End');
  const lastPair = book.page_count % 2 === 0 ? `${book.page_count - 1},${book.page_count}` : `${book.page_count}`;
  await showing(lastPair);
  await page.keyboard.press('Home');
  await showing('1,2');
  // The button on the left edge turns forward too.
  assert.equal(await page.getAttribute('#reader-left', 'aria-label'), 'Next page');
  await page.click('#reader-left');
  await showing('3,4');

  // A link to a page opens the reader there.
  await page.goto(`${server.url}/#/manga/${runId}/read?page=6`);
  await showing('5,6');

  // On a phone: one page at a time, swipes to the right go forward, a zoom.
  await page.setViewportSize({ width: PHONE.width, height: PHONE.height });
  await showing('5');
  assert.equal(await stage.getAttribute('data-mode'), 'single');
  await page.keyboard.press('ArrowLeft');
  await showing('6');
  const area = await stage.boundingBox();
  const swipe = async (from, to) => {
    await page.mouse.move(area.x + area.width * from, area.y + area.height / 2);
    await page.mouse.down();
    await page.mouse.move(area.x + area.width * to, area.y + area.height / 2 + 4, { steps: 6 });
    await page.mouse.up();
  };
  await swipe(0.2, 0.8);
  await showing('7');
  await swipe(0.8, 0.2);
  await showing('6');
  await page.click('#reader-zoom');
  await page.locator('#reader-stage.zoomed').waitFor();
  assert.equal(await page.getAttribute('#reader-zoom', 'aria-pressed'), 'true');
  assert.ok(await stage.evaluate((node) => node.scrollHeight > node.clientHeight * 1.5), 'the page is larger than the stage');
  await page.click('#reader-zoom');
  await page.locator('#reader-stage:not(.zoomed)').waitFor();
  // A double tap zooms in where it is, and out again.
  await page.mouse.dblclick(area.x + area.width / 2, area.y + area.height / 3);
  await page.locator('#reader-stage.zoomed').waitFor();
  await page.mouse.dblclick(area.x + area.width / 2, area.y + area.height / 3);
  await page.locator('#reader-stage:not(.zoomed)').waitFor();
  await showing('6');
  await page.waitForFunction(() => [...document.querySelectorAll('#reader-spread img')].every((img) => img.complete && img.naturalWidth > 0));
  await shot(page, 'phone-manga-reader');

  // In Japanese: the same page, its words translated.
  await Promise.all([page.waitForEvent('load'), page.selectOption('#lang-picker', 'ja')]);
  await showing('6');
  assert.equal(await page.locator('#reader-where').innerText(), `ページ 6/${book.page_count}`);
  assert.equal(await page.getAttribute('#reader-left', 'aria-label'), '次のページ');
  await Promise.all([page.waitForEvent('load'), page.selectOption('#lang-picker', 'en')]);
  await showing('6');

  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(failures, []);
});
