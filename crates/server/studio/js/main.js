// The studio's shell: who is signed in, the top bar, the theme, the language
// picker, and a hash router (`#/gallery?tag=fox`) over one view module per page.

import { del, get, setCsrfToken } from './api.js';
import { clear, h, toast } from './dom.js';
import { chooseLanguageAndReload, lang, LANGUAGES, t } from './i18n.js';
import { describeError, roleWord } from './words.js';
import { accountView } from './views/account.js';
import { adminView } from './views/admin.js';
import { galleryView } from './views/gallery.js';
import { generateView } from './views/generate.js';
import { keysView } from './views/keys.js';
import { mangaView } from './views/manga.js';
import { placesView } from './views/places.js';
import { promptsView } from './views/prompts.js';
import { signInView } from './views/signin.js';
import { speechView } from './views/speech.js';
import { tasksView } from './views/tasks.js';
import { threeDView } from './views/three-d.js';
import { videoView } from './views/video.js';

const ROUTES = {
  generate: { title: t('Generate'), view: generateView },
  '3d': { title: t('3D'), view: threeDView },
  speech: { title: t('Speech'), view: speechView },
  video: { title: t('Video'), view: videoView },
  gallery: { title: t('Gallery'), view: galleryView },
  tasks: { title: t('Tasks'), view: tasksView },
  prompts: { title: t('Prompts'), view: promptsView },
  manga: { title: t('Manga'), view: mangaView },
  places: { title: t('Places'), view: placesView },
  keys: { title: t('API keys'), view: keysView },
  account: { title: t('Account'), view: accountView },
  admin: { title: t('Admin'), view: adminView, adminOnly: true },
};

const main = document.getElementById('main');
const topbar = document.getElementById('topbar');
const session = { me: null, models: null };
let cleanup = null;

/* Theme: the user's choice (kept in localStorage), else the system's, followed
   as it changes. The stylesheet reads only html[data-theme]. */
const systemDark = window.matchMedia('(prefers-color-scheme: dark)');

function storedTheme() {
  try {
    return localStorage.getItem('atelier-theme');
  } catch {
    return null;
  }
}

function currentTheme() {
  return document.documentElement.dataset.theme;
}

function applyTheme() {
  const chosen = storedTheme();
  document.documentElement.dataset.theme = chosen === 'light' || chosen === 'dark'
    ? chosen
    : (systemDark.matches ? 'dark' : 'light');
}

function toggleTheme() {
  const next = currentTheme() === 'dark' ? 'light' : 'dark';
  try {
    localStorage.setItem('atelier-theme', next);
  } catch {
    /* private mode: the choice lasts this page only */
  }
  document.documentElement.dataset.theme = next;
  renderTopbar();
}

applyTheme();
systemDark.addEventListener('change', () => {
  applyTheme();
  renderTopbar();
});

/* Language: index.html's own words are English; they are said again here in
   the chosen one. The picker keeps the choice and reloads (see js/i18n.js). */
function translateStaticText() {
  document.title = t('Atelier studio');
  const skip = document.querySelector('.skip-link');
  if (skip) skip.textContent = t('Skip to content');
  const boot = main.querySelector('.boot');
  if (boot) boot.textContent = t('Loading the studio…');
}

function languagePicker() {
  return h('select', {
    class: 'lang-picker', id: 'lang-picker', name: 'lang', 'aria-label': t('Language'),
    onchange: (event) => chooseLanguageAndReload(event.target.value),
  }, LANGUAGES.map((language) => h('option', {
    value: language.code, lang: language.html, selected: language.code === lang,
  }, language.name)));
}

translateStaticText();

/* Routing */
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [route, search = ''] = raw.split('?');
  // `#/manga/run_…/read`: the page's name, then its own path.
  const [name, ...rest] = route.split('/');
  const path = rest.filter(Boolean).map((part) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  });
  return { name: ROUTES[name] ? name : 'generate', params: new URLSearchParams(search), path };
}

export function navigate(name, params = {}) {
  const search = new URLSearchParams(params).toString();
  const hash = `#/${name}${search ? `?${search}` : ''}`;
  if (location.hash === hash) render();
  else location.hash = hash;
}

async function models() {
  if (!session.models) session.models = (await get('/models')).models;
  return session.models;
}

function renderTopbar() {
  const { name } = parseHash();
  const me = session.me;
  clear(topbar);
  if (!me) {
    topbar.hidden = true;
    return;
  }
  topbar.hidden = false;
  const links = Object.entries(ROUTES)
    .filter(([, route]) => !route.adminOnly || me.role === 'admin')
    .map(([key, route]) => h('a', { href: `#/${key}`, 'aria-current': key === name ? 'page' : null, dataset: { nav: key } }, route.title));
  const dark = currentTheme() === 'dark';
  topbar.append(
    h('a', { class: 'brand', href: '#/generate' }, h('img', { src: '/studio/icon.svg', alt: '' }), 'Atelier'),
    h('nav', { class: 'nav', 'aria-label': t('Studio') }, links),
    h('span', { class: 'who hide-phone', title: `${me.email} (${roleWord(me.role)})` }, me.email),
    languagePicker(),
    h('button', {
      class: 'btn ghost icon', type: 'button', id: 'theme-toggle', 'aria-pressed': dark ? 'true' : 'false',
      title: dark ? t('Switch to the light theme') : t('Switch to the dark theme'), onclick: toggleTheme,
    }, dark ? `☀ ${t('Light')}` : `☾ ${t('Dark')}`),
    h('button', { class: 'btn small', type: 'button', id: 'sign-out', onclick: signOut }, t('Sign out')),
  );
}

async function render() {
  if (cleanup) {
    try {
      cleanup();
    } catch {
      /* a view's cleanup must not stop the next view */
    }
    cleanup = null;
  }
  clear(main);
  if (!session.me) {
    document.title = `${t('Sign in')} · Atelier`;
    renderTopbar();
    signInView(main, { onSignedIn: signedIn, languagePicker });
    return;
  }
  const { name, params, path } = parseHash();
  const route = ROUTES[name];
  if (route.adminOnly && session.me.role !== 'admin') {
    navigate('generate');
    return;
  }
  document.title = `${route.title} · Atelier`;
  renderTopbar();
  const context = { me: session.me, params, path, navigate, models, refreshMe };
  try {
    cleanup = (await route.view(main, context)) || null;
  } catch (error) {
    main.append(h('div', { class: 'error-box', role: 'alert' }, describeError(error)));
  }
}

async function refreshMe() {
  const state = await get('/sessions/current');
  session.me = state.signed_in ? state.me : null;
  setCsrfToken(session.me && session.me.csrf_token);
  return session.me;
}

function signedIn() {
  session.models = null;
  refreshMe()
    .then(() => {
      if (!location.hash || location.hash === '#/') navigate('generate');
      else render();
    })
    .catch((error) => toast(describeError(error), 'error'));
}

async function signOut() {
  try {
    await del('/sessions/current');
  } catch (error) {
    if (error.status !== 401) {
      toast(describeError(error), 'error');
      return;
    }
  }
  session.me = null;
  setCsrfToken(null);
  toast(t('Signed out.'));
  render();
}

window.addEventListener('hashchange', render);
window.addEventListener('atelier:signed-out', () => {
  if (!session.me) return;
  session.me = null;
  setCsrfToken(null);
  toast(t('Your session ended: sign in again.'), 'error');
  render();
});

refreshMe()
  .then(render)
  .catch((error) => {
    clear(main).append(h('div', { class: 'error-box', role: 'alert' }, describeError(error)));
  });
