// The studio's translations, checked without a browser: every sentence the studio
// passes to `t(…)` or `tParts(…)` (read from the sources, so a new sentence cannot
// ship in English only unnoticed) has a Japanese and a Chinese translation with the
// same `{placeholders}`, and no dictionary keeps a sentence the studio no longer says.

import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';

import { REPO } from './harness.mjs';

const JS = path.join(REPO, 'crates/server/studio/js');
const I18N = path.join(JS, 'i18n.js');
const DICTIONARIES = path.join(JS, 'i18n');
const LANGUAGES = ['ja', 'zh'];

/** Every `.js` file under `dir`, the dictionaries left out. */
async function sources(dir) {
  const files = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (file !== DICTIONARIES) files.push(...await sources(file));
    } else if (entry.name.endsWith('.js')) {
      files.push(file);
    }
  }
  return files;
}

/** The text of a JS string literal without `${}` (quotes included). */
function literal(quoted) {
  return quoted.slice(1, -1).replace(/\\(.)/g, (whole, char) => ({ n: '\n', t: '\t' }[char] ?? char));
}

/**
 * The keys of the studio: the literal first argument of each `t(` and `tParts(`
 * call, with where it is. A call whose first argument is not a plain literal is
 * an error (its sentence could not be checked), except in i18n.js, which defines them.
 */
async function studioKeys() {
  const keys = new Map();
  const problems = [];
  for (const file of await sources(JS)) {
    if (file === I18N) continue;
    const source = await readFile(file, 'utf8');
    for (const call of source.matchAll(/\b(?:t|tParts)\(/g)) {
      const rest = source.slice(call.index + call[0].length);
      const line = source.slice(0, call.index).split('\n').length;
      const where = `${path.relative(REPO, file)}:${line}`;
      const match = rest.match(/^\s*('(?:[^'\\\n]|\\.)*'|`(?:[^`\\$]|\\.|\$(?!\{))*`)\s*[,)]/);
      if (!match) {
        problems.push(`${where}: ${call[0]}${rest.slice(0, 40)}… does not start with a plain string`);
        continue;
      }
      const key = literal(match[1]);
      if (!keys.has(key)) keys.set(key, []);
      keys.get(key).push(where);
    }
  }
  return { keys, problems };
}

async function dictionary(language) {
  return (await import(pathToFileURL(path.join(DICTIONARIES, `${language}.js`)))).default;
}

function placeholders(text) {
  return [...text.matchAll(/\{(\w+)\}/g)].map((match) => match[1]).sort();
}

const { keys, problems } = await studioKeys();

test('every t() call names its sentence as a plain string', () => {
  assert.deepEqual(problems, []);
  assert.ok(keys.size > 200, `the studio's sentences were found (${keys.size})`);
  for (const expected of ['Generate', 'No tasks here yet.', 'Output {n} of {total}', 'Kie.ai deletes uploaded files after 3 days. Atelier keeps your original and uploads it again when a task needs it later.']) {
    assert.ok(keys.has(expected), `"${expected}" is among the keys`);
  }
});

for (const language of LANGUAGES) {
  test(`every sentence has a ${language} translation with the same placeholders`, async () => {
    const words = await dictionary(language);
    const missing = [...keys.keys()].filter((key) => typeof words[key] !== 'string' || !words[key].trim());
    assert.deepEqual(missing, [], `sentences without a ${language} translation (at ${missing.map((key) => keys.get(key)?.[0]).join(', ')})`);
    for (const key of keys.keys()) {
      assert.deepEqual(placeholders(words[key]), placeholders(key), `${language}: the placeholders of "${key}"`);
    }
  });

  test(`the ${language} dictionary has no unused sentence`, async () => {
    const words = await dictionary(language);
    const unused = Object.keys(words).filter((key) => !keys.has(key));
    assert.deepEqual(unused, [], `${language} translates sentences the studio no longer says`);
  });
}

test('English is the key; placeholders are filled; tParts keeps elements', async () => {
  const { t, tParts, lang, locale } = await import(pathToFileURL(I18N));
  assert.equal(lang, 'en', 'no browser, no stored choice: English');
  assert.equal(locale, undefined, 'English dates follow the browser');
  assert.equal(t('No tasks here yet.'), 'No tasks here yet.');
  assert.equal(t('Output {n} of {total}', { n: 2, total: 4 }), 'Output 2 of 4');
  assert.equal(t('A sentence nobody translated.'), 'A sentence nobody translated.');
  const link = { element: true };
  assert.deepEqual(tParts('For a prompt of a tree: {link}.', { link }), ['For a prompt of a tree: ', link, '.']);
  assert.deepEqual(tParts('Drop up to {max} images here, or {pick}', { max: 3, pick: link }), ['Drop up to 3 images here, or ', link]);
});

test('the language: the stored choice, else the first of the browser\'s the studio speaks, else English', async (context) => {
  const globals = ['navigator', 'localStorage', 'document'];
  const saved = Object.fromEntries(globals.map((name) => [name, Object.getOwnPropertyDescriptor(globalThis, name)]));
  context.after(() => {
    for (const [name, descriptor] of Object.entries(saved)) {
      if (descriptor) Object.defineProperty(globalThis, name, descriptor);
      else delete globalThis[name];
    }
  });
  // A fresh i18n.js (a new URL is a new module) in a pretend browser.
  const fresh = async (languages, stored, tag) => {
    const fakes = { navigator: { languages }, localStorage: { getItem: () => stored }, document: { documentElement: { lang: 'en' } } };
    for (const [name, value] of Object.entries(fakes)) {
      Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
    }
    const module = await import(`${pathToFileURL(I18N)}?${tag}`);
    return { ...module, htmlLang: fakes.document.documentElement.lang };
  };
  const zh = await fresh(['fr', 'zh-TW', 'ja'], null, 'browser-zh');
  assert.equal(zh.lang, 'zh');
  assert.equal(zh.htmlLang, 'zh-Hans', 'html[lang] is set, a value axe-core accepts');
  assert.equal(zh.locale, 'zh-CN');
  assert.equal(zh.t('Generate'), (await dictionary('zh')).Generate);
  assert.equal(zh.t('Output {n} of {total}', { n: 1, total: 4 }), (await dictionary('zh'))['Output {n} of {total}'].replace('{n}', '1').replace('{total}', '4'));
  const ja = await fresh(['ja-JP'], null, 'browser-ja');
  assert.equal(ja.lang, 'ja');
  assert.equal(ja.htmlLang, 'ja');
  assert.equal(ja.locale, 'ja-JP');
  assert.equal((await fresh(['fr', 'de'], null, 'browser-other')).lang, 'en');
  assert.equal((await fresh(['en-GB', 'ja'], null, 'browser-en-first')).lang, 'en', 'the first preference wins');
  assert.equal((await fresh(['ja-JP'], 'en', 'stored-en')).lang, 'en', 'the stored choice wins');
  assert.equal((await fresh(['en'], 'zh', 'stored-zh')).lang, 'zh');
  assert.equal((await fresh(['en'], 'xx', 'stored-unknown')).lang, 'en', 'an unknown stored value is ignored');
  const html = (await import(pathToFileURL(I18N))).LANGUAGES.map((language) => language.html);
  assert.deepEqual(html, ['en', 'ja', 'zh-Hans'], 'html[lang] values axe-core accepts');
});
