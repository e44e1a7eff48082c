// The manga reader (`#/manga/<run>/read`, `?page=N` to open at a page): the book's
// pages from phase 7, one at a time, or two side by side on a wide screen (1000 px
// and more). A Japanese book reads right to left: its next page is to the left, the
// first page of a spread on the right, ArrowLeft goes forward and a swipe to the
// right turns the page. The keyboard (arrows, Page Up and Down, Home, End), the
// buttons at the page's edges, a slider, swipes, and a zoom (the button, a double
// tap; the browser's own pinch zoom stays allowed) all turn or enlarge the pages.
// The pages are the server's signed links, which also work without signing in.

import { get } from '../api.js';
import { clear, h } from '../dom.js';
import { t } from '../i18n.js';
import { describeError, humanTime } from '../words.js';

const WIDE = '(min-width: 1000px)';
/** A swipe is a move of this many pixels, mostly sideways. */
const SWIPE = 40;
const DOUBLE_TAP_MS = 350;

function clamp(value, low, high) {
  return Math.min(Math.max(value, low), high);
}

export async function readerView(main, runId, { params }) {
  const runHref = `#/manga?run=${encodeURIComponent(runId)}`;
  const back = h('a', { class: 'btn', href: runHref, id: 'reader-back' }, t('Back to the run'));
  let answer;
  try {
    answer = await get(`/manga/${encodeURIComponent(runId)}`);
  } catch (error) {
    main.append(h('h1', {}, t('Read')), h('div', { class: 'error-box', role: 'alert' }, describeError(error)), h('p', {}, back));
    return null;
  }
  const result = answer.manga_result || {};
  const concept = (result.story_structure && result.story_structure.concept) || {};
  const title = concept.title || t('Manga');
  document.title = `${title} · Atelier`;
  const book = result.book;
  if (!book || !Array.isArray(book.pages) || !book.pages.length) {
    main.append(h('h1', { id: 'reader-title' }, title),
      h('p', { class: 'empty', id: 'reader-empty' }, t('This manga has no book yet: phase 7 binds it.')), h('p', {}, back));
    return null;
  }
  const pages = book.pages;
  const rtl = book.right_to_left !== false;
  const wide = window.matchMedia(WIDE);
  let spread = wide.matches;
  let zoomed = false;
  let index = clamp((Number(params.get('page')) || 1) - 1, 0, pages.length - 1);

  const where = h('p', { class: 'reader-where', id: 'reader-where', role: 'status', 'aria-live': 'polite' });
  const spreadBox = h('div', { class: `reader-spread${rtl ? ' rtl' : ''}`, id: 'reader-spread' });
  const turn = (side) => {
    // The button on the left goes forward in a book read right to left.
    const forward = (side === 'left') === rtl;
    return h('button', {
      class: `reader-turn ${side}`, type: 'button', id: `reader-${side}`, dataset: { action: forward ? 'next' : 'previous' },
      'aria-label': forward ? t('Next page') : t('Previous page'), onclick: () => (forward ? next() : previous()),
    }, h('span', { 'aria-hidden': 'true' }, side === 'left' ? '‹' : '›'));
  };
  const left = turn('left');
  const right = turn('right');
  const stage = h('div', {
    class: 'reader-stage', id: 'reader-stage', role: 'region', tabindex: 0, 'aria-label': t('Pages'),
    'aria-describedby': 'reader-help', dataset: { direction: rtl ? 'rtl' : 'ltr' },
  }, spreadBox);
  // The turning buttons sit over the stage's edges, outside what scrolls when zoomed.
  const frame = h('div', { class: 'reader-frame' }, stage, left, right);
  const zoom = h('button', { class: 'btn small', type: 'button', id: 'reader-zoom', 'aria-pressed': 'false', onclick: () => toggleZoom() }, t('Zoom'));
  const slider = h('input', {
    type: 'range', id: 'reader-slider', min: 1, max: pages.length, step: 1, value: String(index + 1), dir: rtl ? 'rtl' : 'ltr',
    'aria-label': t('Page'), oninput: (event) => go(Number(event.target.value) - 1),
  });
  const firstButton = h('button', { class: 'btn small', type: 'button', id: 'reader-first', onclick: () => go(0) }, t('First page'));
  const lastButton = h('button', { class: 'btn small', type: 'button', id: 'reader-last', onclick: () => go(pages.length - 1) }, t('Last page'));
  const help = h('p', { class: 'small muted', id: 'reader-help' }, rtl
    ? t('Read right to left: ← or a swipe to the right turns to the next page, → goes back; Home and End go to the first and last page. Double-tap to zoom.')
    : t('Read left to right: → or a swipe to the left turns to the next page, ← goes back; Home and End go to the first and last page. Double-tap to zoom.'));
  const files = h('div', { class: 'row' },
    book.pdf ? h('a', { class: 'btn small', href: book.pdf, id: 'reader-pdf', download: 'manga.pdf' }, t('PDF')) : null,
    book.cbz ? h('a', { class: 'btn small', href: book.cbz, id: 'reader-cbz', download: 'manga.cbz' }, t('CBZ')) : null);
  const reader = h('section', { class: `reader${rtl ? ' rtl' : ''}`, id: 'manga-reader', 'aria-labelledby': 'reader-title', dataset: { direction: rtl ? 'rtl' : 'ltr' } },
    h('div', { class: 'row reader-bar' },
      h('h1', { class: 'grow', id: 'reader-title' }, title),
      h('span', { class: 'chip' }, rtl ? t('Right to left') : t('Left to right')),
      zoom, files, back),
    frame,
    h('div', { class: 'row reader-foot' },
      rtl ? lastButton : firstButton,
      h('div', { class: 'grow reader-slider' }, slider),
      rtl ? firstButton : lastButton,
      where),
    help,
    book.expires_at ? h('p', { class: 'small muted' }, t('The page links work without signing in until {when}.', { when: humanTime(book.expires_at) })) : null);
  main.append(reader);

  /** The first page shown: in spreads, pages go in pairs (1 and 2, 3 and 4, …). */
  const start = (at) => (spread ? at - (at % 2) : at);
  const shown = () => {
    const first = start(index);
    return spread ? [first, first + 1].filter((n) => n < pages.length) : [first];
  };

  function go(to) {
    const target = start(clamp(to, 0, pages.length - 1));
    if (target === index && spreadBox.childElementCount) return;
    index = target;
    render();
  }
  function next() {
    const ahead = start(index) + (spread ? 2 : 1);
    if (ahead < pages.length) go(ahead);
  }
  function previous() {
    if (start(index) > 0) go(start(index) - (spread ? 2 : 1));
  }

  const images = new Map();
  function image(n) {
    if (!images.has(n)) {
      images.set(n, h('img', {
        class: 'reader-page', src: pages[n], alt: t('Page {n} of {total}', { n: n + 1, total: pages.length }),
        draggable: 'false', decoding: 'async', dataset: { page: String(n + 1) },
      }));
    }
    return images.get(n);
  }

  function render() {
    index = start(index);
    const list = shown();
    clear(spreadBox).append(...list.map(image));
    spreadBox.classList.toggle('two', list.length === 2);
    stage.dataset.pages = list.map((n) => n + 1).join(',');
    stage.dataset.mode = spread ? 'spread' : 'single';
    where.textContent = list.length === 2
      ? t('Pages {a} and {b} of {total}', { a: list[0] + 1, b: list[1] + 1, total: pages.length })
      : t('Page {n} of {total}', { n: list[0] + 1, total: pages.length });
    const atStart = list[0] === 0;
    const atEnd = list[list.length - 1] === pages.length - 1;
    for (const button of [left, right]) button.disabled = button.dataset.action === 'next' ? atEnd : atStart;
    firstButton.disabled = atStart;
    lastButton.disabled = atEnd;
    slider.value = String(list[0] + 1);
    slider.setAttribute('aria-valuetext', where.textContent);
    if (zoomed) setZoom(true);
    const hash = `#/manga/${encodeURIComponent(runId)}/read${list[0] ? `?page=${list[0] + 1}` : ''}`;
    if (location.hash !== hash) history.replaceState(history.state, '', hash);
    // The next pages are fetched before they are turned to.
    for (const n of [list[list.length - 1] + 1, list[list.length - 1] + 2]) if (n < pages.length) image(n);
  }

  /* Zoom: the page twice the stage's height, scrolled to where it was tapped. */
  function setZoom(on, point) {
    zoomed = on;
    stage.classList.toggle('zoomed', on);
    zoom.setAttribute('aria-pressed', on ? 'true' : 'false');
    zoom.textContent = on ? t('Fit the screen') : t('Zoom');
    if (!on) {
      spreadBox.style.height = '';
      return;
    }
    const box = stage.getBoundingClientRect();
    spreadBox.style.height = `${Math.round(box.height * 2)}px`;
    if (point) {
      stage.scrollLeft = (point.x - box.left) * 2 - box.width / 2;
      stage.scrollTop = (point.y - box.top) * 2 - box.height / 2;
    } else {
      stage.scrollLeft = (stage.scrollWidth - box.width) / 2;
      stage.scrollTop = 0;
    }
  }
  function toggleZoom(point) {
    setZoom(!zoomed, point);
  }

  /* The stage fills the window below its top. */
  function fit() {
    const box = frame.getBoundingClientRect();
    const below = reader.getBoundingClientRect().bottom - box.bottom;
    const room = window.innerHeight - (box.top + window.scrollY) - below - 12;
    frame.style.height = `${Math.max(260, Math.round(Math.min(room, window.innerHeight - 24)))}px`;
    if (zoomed) setZoom(true);
  }

  /* Keys: forward is to the left in a book read right to left. */
  const onKey = (event) => {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    const target = event.target;
    if (target && (target.closest('input, textarea, select, [contenteditable]') || (event.key === ' ' && target.closest('button, a')))) return;
    const forward = rtl ? 'ArrowLeft' : 'ArrowRight';
    const backward = rtl ? 'ArrowRight' : 'ArrowLeft';
    switch (event.key) {
      case forward: case 'PageDown': case ' ': next(); break;
      case backward: case 'PageUp': previous(); break;
      case 'Home': go(0); break;
      case 'End': go(pages.length - 1); break;
      default: return;
    }
    event.preventDefault();
  };

  /* Swipes and double taps (pointer events: touch, pen and mouse alike). */
  let down = null;
  let lastTap = null;
  stage.addEventListener('pointerdown', (event) => {
    if (event.button !== 0 || event.target.closest('button')) return;
    down = { id: event.pointerId, x: event.clientX, y: event.clientY };
  });
  stage.addEventListener('pointercancel', () => {
    down = null;
  });
  stage.addEventListener('pointerup', (event) => {
    if (!down || down.id !== event.pointerId) return;
    const dx = event.clientX - down.x;
    const dy = event.clientY - down.y;
    down = null;
    if (Math.abs(dx) < 10 && Math.abs(dy) < 10) {
      const now = Date.now();
      if (lastTap && now - lastTap.at < DOUBLE_TAP_MS && Math.hypot(event.clientX - lastTap.x, event.clientY - lastTap.y) < 30) {
        lastTap = null;
        toggleZoom({ x: event.clientX, y: event.clientY });
      } else {
        lastTap = { at: now, x: event.clientX, y: event.clientY };
      }
      return;
    }
    if (zoomed || Math.abs(dx) < SWIPE || Math.abs(dx) < 1.5 * Math.abs(dy)) return;
    // A swipe to the right shows what is on the left: the next page when read right to left.
    if ((dx > 0) === rtl) next();
    else previous();
  });

  const onWide = () => {
    spread = wide.matches;
    render();
    fit();
  };
  wide.addEventListener('change', onWide);
  window.addEventListener('resize', fit);
  document.addEventListener('keydown', onKey);
  render();
  fit();
  stage.focus({ preventScroll: true });
  return () => {
    wide.removeEventListener('change', onWide);
    window.removeEventListener('resize', fit);
    document.removeEventListener('keydown', onKey);
  };
}
