// The studio's languages: English, Japanese and Simplified Chinese. The English
// sentence is its own key (`t('Output {n} of {total}', { n: 1, total: 4 })`), so
// English needs no dictionary; `js/i18n/ja.js` and `js/i18n/zh.js` map it to the
// other two. The language is the user's choice (kept in localStorage), else the
// first of the browser's preferences the studio speaks, else English; it is fixed for
// the page's life: choosing another one reloads the page.

const STORAGE_KEY = 'atelier-lang';

/** Each language: its code, its own name (for the picker), html[lang], the Intl locale. */
export const LANGUAGES = [
  { code: 'en', name: 'English', html: 'en', locale: undefined },
  { code: 'ja', name: '日本語', html: 'ja', locale: 'ja-JP' },
  { code: 'zh', name: '中文（简体）', html: 'zh-Hans', locale: 'zh-CN' },
];

function known(code) {
  return LANGUAGES.some((language) => language.code === code);
}

function storedLanguage() {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

function browserLanguage() {
  const preferred = typeof navigator === 'undefined' ? [] : navigator.languages || [navigator.language || ''];
  for (const tag of preferred) {
    const lower = String(tag).toLowerCase();
    if (lower.startsWith('en')) return 'en';
    if (lower.startsWith('ja')) return 'ja';
    if (lower.startsWith('zh')) return 'zh';
  }
  return 'en';
}

// Outside a browser (the words tests under node) the studio speaks English,
// whatever the machine's locale.
function chooseLanguage() {
  if (typeof document === 'undefined') return 'en';
  const chosen = storedLanguage();
  return known(chosen) ? chosen : browserLanguage();
}

/** The current language's code: `en`, `ja` or `zh`. */
export const lang = chooseLanguage();
const current = LANGUAGES.find((language) => language.code === lang);
// Only the chosen language's dictionary is fetched: English pages load neither.
const dictionary = lang === 'ja' ? (await import('./i18n/ja.js')).default
  : lang === 'zh' ? (await import('./i18n/zh.js')).default : {};

/** The Intl locale for dates and numbers (undefined: the browser's own, for English). */
export const locale = current.locale;

if (typeof document !== 'undefined') document.documentElement.lang = current.html;

function translated(english) {
  return Object.hasOwn(dictionary, english) ? dictionary[english] : english;
}

/** `english` in the current language, its `{name}` placeholders filled from `vars`. */
export function t(english, vars) {
  const text = translated(english);
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

/**
 * Like `t`, for a sentence around elements (a link, a code): returns the pieces,
 * text and nodes in the translation's order, for `h()` to append.
 * `tParts('See {docs}.', { docs: h('a', …) })`.
 */
export function tParts(english, vars) {
  const pieces = [];
  for (const [index, piece] of translated(english).split(/\{(\w+)\}/).entries()) {
    const value = index % 2 === 0 ? piece : (piece in vars ? vars[piece] : `{${piece}}`);
    const last = pieces.length - 1;
    // Text runs stay one string; elements stay elements.
    if (typeof value !== 'object' && last >= 0 && typeof pieces[last] !== 'object') pieces[last] += String(value);
    else if (typeof value === 'object' || value !== '') pieces.push(typeof value === 'object' ? value : String(value));
  }
  return pieces;
}

/** Keeps `code` as the user's language and reloads the page (the route stays). */
export function chooseLanguageAndReload(code) {
  if (!known(code) || code === lang) return;
  try {
    localStorage.setItem(STORAGE_KEY, code);
  } catch {
    /* private mode: nothing to keep, so nothing would change on reload */
  }
  location.reload();
}
