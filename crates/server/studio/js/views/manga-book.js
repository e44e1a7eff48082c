// Manga, phases 5 to 7 (seed 001), in the run page's editor (js/views/manga.js):
// the panel images (`art`: each panel drawn again with a new seed or words, an
// earlier image picked back, a crop), the lettering (`lettering`: balloons moved and
// resized with the pointer or the keyboard, their text edited in place, their kind,
// type size and weight), and the book (`report` and `book`: the quality report, each
// problem a way to the element it names, the PDF and CBZ, the pages to read).
//
// Each editor is drawn from the current version's document and a context from the
// run page: `ctx.change(body)` sends one change (a new version, or the refusal in
// words), `ctx.editField` an input that sends `text_edit`, `ctx.state` the page and
// the element selected, kept across redraws.

import { get } from '../api.js';
import { clear, field, h, setFieldError } from '../dom.js';
import { t } from '../i18n.js';
import { describeError, humanTime } from '../words.js';

/** The book's page in pixels (the server's `PAGE_WIDTH` × `PAGE_HEIGHT`). */
const PAGE = { width: 1200, height: 1700 };
/** One keyboard step is 1 % of the page; a balloon is never smaller than 2 %. */
const STEP = 0.01;
const SMALLEST = 0.02;
const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
const SVG = 'http://www.w3.org/2000/svg';

const SOURCE_WORDS = {
  generated: t('Drawn by the image model'),
  simplified: t('Drawn from a simplified prompt (the first try failed)'),
  placeholder: t('A placeholder (the model could not draw it)'),
  reused: t('Reused from a similar scene'),
};
export const BALLOON_KINDS = {
  speech: t('Speech'),
  thought: t('Thought'),
  shout: t('Shout'),
  whisper: t('Whisper'),
  narration: t('Narration'),
};
const PROBLEM_WORDS = {
  text_overflow: t('Text does not fit'),
  balloon_overlap: t('Balloons overlap'),
  balloon_over_face: t('Balloon over a face'),
  reading_order: t('Reading order'),
  crosses_border: t('Crosses a panel border'),
  fallback_panel: t('Fallback image'),
  low_contrast: t('Low contrast'),
};

function clamp(value, low, high) {
  return Math.min(Math.max(value, low), high);
}

function round4(value) {
  return Math.round(value * 10000) / 10000;
}

function percent(fraction) {
  return `${Math.round(fraction * 100)}%`;
}

function text(value) {
  return value === null || value === undefined ? '' : String(value);
}

export function assetUrl(id, thumbnail = false) {
  return `/api/v1/assets/${encodeURIComponent(id)}${thumbnail ? '/thumbnail' : ''}`;
}

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined) element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) if (child) element.append(child);
  return element;
}

/** Places an element at a frame (fractions of its page). */
function place(element, frame) {
  element.style.left = `${frame.x * 100}%`;
  element.style.top = `${frame.y * 100}%`;
  element.style.width = `${frame.w * 100}%`;
  element.style.height = `${frame.h * 100}%`;
}

/**
 * A panel's image as the book frames it: its crop (fractions of the image, all of it
 * by default) covers the frame, centred; an SVG whose viewBox is the crop does just that.
 */
export function framedImage(entry, { thumbnail = false } = {}) {
  // Without its size an image can only cover the frame whole.
  if (!entry.width || !entry.height) {
    return h('img', { class: 'framed', src: assetUrl(entry.asset_id, thumbnail), alt: '', draggable: 'false', dataset: { asset: entry.asset_id } });
  }
  const { width, height } = entry;
  const crop = entry.crop || { x: 0, y: 0, w: 1, h: 1 };
  return svg('svg', {
    class: 'framed', viewBox: `${crop.x * width} ${crop.y * height} ${crop.w * width} ${crop.h * height}`,
    preserveAspectRatio: 'xMidYMid slice', 'aria-hidden': 'true', focusable: 'false',
  }, svg('image', { href: assetUrl(entry.asset_id, thumbnail), width, height, preserveAspectRatio: 'none', 'data-asset': entry.asset_id }));
}

/** A small random sequence that is always the same for the same seed (mulberry32). */
function seeded(seed) {
  let state = Math.floor(seed * 1e6) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Speed lines (streaks along `angle`) or focus lines (wedges toward `center`, the
 * middle left clear) over an effect's frame, in page pixels, clipped to it: a sketch
 * of what the letterer draws, so the page reads as it will be printed.
 */
function effectLines(effect) {
  const f = effect.frame;
  const box = { x: f.x * PAGE.width, y: f.y * PAGE.height, w: f.w * PAGE.width, h: f.h * PAGE.height };
  const random = seeded(box.x + box.y * 7 + box.w * 13 + box.h * 17 + (effect.kind === 'focus_lines' ? 1 : 0));
  const between = (low, high) => low + (high - low) * random();
  const points = [];
  if (effect.kind === 'speed_lines') {
    const angle = (Number(effect.angle) || 0) * (Math.PI / 180);
    const along = [Math.cos(angle), Math.sin(angle)];
    const across = [-along[1], along[0]];
    const reach = Math.hypot(box.w, box.h);
    for (let offset = -reach / 2; offset < reach / 2; offset += between(6, 22)) {
      if (random() < 0.3) continue;
      const start = -reach / 2 + reach * between(-0.1, 0.35);
      const end = reach / 2 - reach * between(-0.1, 0.25);
      const width = between(0.8, 2.6);
      const at = (a, side) => `${(box.w / 2 + along[0] * a + across[0] * (offset + side)).toFixed(1)},${(box.h / 2 + along[1] * a + across[1] * (offset + side)).toFixed(1)}`;
      const middle = (start + end) / 2;
      points.push(`${at(start, 0)} ${at(middle, width / 2)} ${at(end, 0)} ${at(middle, -width / 2)}`);
    }
  } else {
    const center = effect.center || { x: f.x + f.w / 2, y: f.y + f.h / 2 };
    const cx = center.x * PAGE.width - box.x;
    const cy = center.y * PAGE.height - box.y;
    const outer = Math.hypot(Math.max(cx, box.w - cx), Math.max(cy, box.h - cy)) * 1.05;
    const clear = 0.28 * Math.min(box.w, box.h);
    const count = 120;
    const step = (2 * Math.PI) / count;
    const at = (angle, radius) => `${(cx + radius * Math.cos(angle)).toFixed(1)},${(cy + radius * Math.sin(angle)).toFixed(1)}`;
    for (let k = 0; k < count; k += 1) {
      if (random() < 0.2) continue;
      const angle = k * step + between(-0.4, 0.4) * step;
      const half = step * between(0.05, 0.2);
      points.push(`${at(angle, clear * between(1, 1.7))} ${at(angle - half, outer)} ${at(angle + half, outer)}`);
    }
  }
  return svg('svg', { x: box.x, y: box.y, width: box.w, height: box.h, viewBox: `0 0 ${box.w} ${box.h}`, class: `lt-effect ${effect.kind}` },
    points.map((list) => svg('polygon', { points: list })));
}

/** Previous and next page and a picker, for the pages of one part. */
function pageNav(prefix, numbers, index, goTo) {
  const total = numbers.length;
  const picker = h('select', {
    id: `${prefix}-page-picker`, 'aria-label': t('Page'), dataset: { key: `${prefix}-page` },
    onchange: (event) => goTo(Number(event.target.value)),
  }, numbers.map((number, each) => h('option', { value: String(each), selected: each === index }, t('Page {n} of {total}', { n: number, total }))));
  return h('div', { class: 'row sb-nav' },
    h('button', { class: 'btn small', type: 'button', disabled: index === 0, dataset: { key: `${prefix}-previous` }, onclick: () => goTo(index - 1) }, t('Previous page')),
    h('div', {}, picker),
    h('button', { class: 'btn small', type: 'button', disabled: index === total - 1, dataset: { key: `${prefix}-next` }, onclick: () => goTo(index + 1) }, t('Next page')));
}

/** The story's page that a lettered page letters (by number, else by place). */
function storyPage(doc, number, index) {
  const pages = doc.pages || [];
  return pages.find((page) => page.number === number) || pages[index] || { panels: [] };
}

function artEntries(doc) {
  return new Map(((doc.art && doc.art.panels) || []).map((entry) => [entry.id, entry]));
}

/** What phase 5's progress says while it draws ({completed, total}, from the run's events). */
export function drawingWords(progress) {
  if (!progress || !progress.total) return t('Drawing the panel images…');
  return t('Drawing the panel images: {done} of {total} done.', { done: progress.completed, total: progress.total });
}

/* Phase 5: the panel images */

/** A panel image that arrived while phase 5 draws, shown in its slot of the page. */
export function showArrival(holder, entry) {
  const slot = holder.querySelector(`#art-sheet .art-panel[data-panel="${CSS.escape(entry.id)}"]`);
  if (!slot || slot.dataset.asset === entry.asset_id) return;
  slot.querySelector('.art-waiting, .framed')?.remove();
  slot.querySelector('[data-badge=drawing]')?.remove();
  slot.classList.remove('empty-panel', 'redrawing');
  slot.dataset.asset = entry.asset_id;
  slot.insertBefore(framedImage(entry), slot.querySelector('.sb-number'));
}

export function artEditor(ctx) {
  const { doc, run, editable, state } = ctx;
  const pages = doc.pages || [];
  if (!pages.length) return h('p', { class: 'empty' }, t('No pages yet.'));
  const entries = artEntries(doc);
  const drawing = run.status === 'running' && run.phase === 5;
  state.pageIndex = clamp(state.pageIndex, 0, pages.length - 1);
  const p = state.pageIndex;
  const page = pages[p];
  const pageNumber = page.number ?? p + 1;
  const goTo = (index) => {
    state.pageIndex = index;
    state.selected = null;
    ctx.rerender();
  };
  const drawn = [...entries.values()].filter((entry) => entry.asset_id).length;
  const total = pages.reduce((sum, each) => sum + (each.panels || []).length, 0);
  const progress = h('p', { class: `small${drawing ? '' : ' muted'}`, id: 'art-progress', role: 'status', dataset: { artProgress: drawing ? 'drawing' : 'done' } },
    drawing ? drawingWords(ctx.progress(5)) : t('{n} of {total} panels have an image.', { n: drawn, total }));
  const help = h('p', { class: 'small muted', id: 'art-help' }, editable
    ? t('Select a panel to draw it again, to pick an earlier image or to crop it.')
    : t('The panels can be changed while the run waits for feedback.'));
  const sheet = h('div', {
    class: 'book-page art-page', id: 'art-sheet', role: 'group', 'aria-describedby': 'art-help',
    'aria-label': t('Panel images of page {n}', { n: pageNumber }), dataset: { page: String(p) },
  });
  const inspectorHolder = h('div', { id: 'art-inspector' });
  const items = [];

  const select = (item) => {
    state.selected = item.key;
    for (const other of items) {
      other.element.classList.toggle('selected', other === item);
      other.element.setAttribute('aria-pressed', other === item ? 'true' : 'false');
    }
    clear(inspectorHolder).append(artInspector(ctx, item.panel, item.entry, item.number, drawing));
  };

  (page.panels || []).forEach((panel, index) => {
    const arrived = drawing ? ctx.arrived(panel.id) : null;
    const entry = arrived || entries.get(panel.id);
    const key = `art.panels.${panel.id}`;
    const number = panel.order ?? index + 1;
    const badges = [];
    if (entry && entry.reused) {
      badges.push(h('span', { class: 'chip badge-reused', dataset: { badge: 'reused' } },
        t('Reused {score}%', { score: Math.round((entry.reused.score || 0) * 100) })));
    }
    if (entry && (entry.fallback || entry.source === 'simplified' || entry.source === 'placeholder')) {
      badges.push(h('span', { class: 'chip badge-fallback', dataset: { badge: 'fallback' } }, entry.source === 'placeholder' ? t('Placeholder') : t('Fallback')));
    }
    const redrawing = drawing && !arrived && (!entry || entry.regenerate);
    if (redrawing && entry) badges.push(h('span', { class: 'chip s-running', dataset: { badge: 'drawing' } }, t('Drawing again…')));
    const described = entry
      ? [t('Panel {n}', { n: number }), entry.reused ? t('reused from a similar scene') : null, entry.fallback ? t('a fallback image') : null,
        redrawing ? t('being drawn again') : null].filter(Boolean).join(', ')
      : t('Panel {n}: no image yet', { n: number });
    const element = h('div', {
      class: `art-panel${entry ? '' : ' empty-panel'}${redrawing ? ' redrawing' : ''}`, role: 'button', tabindex: 0, 'aria-pressed': 'false',
      dataset: { panel: panel.id, key, asset: entry ? text(entry.asset_id) : '' },
    },
    h('span', { class: 'sr-only' }, described),
    entry && entry.asset_id ? framedImage(entry) : h('span', { class: 'art-waiting', 'aria-hidden': 'true' }, drawing ? t('Drawing…') : t('No image yet')),
    h('span', { class: 'sb-number', 'aria-hidden': 'true' }, String(number)),
    badges.length ? h('span', { class: 'art-badges' }, badges) : null);
    place(element, panel.frame || { x: 0, y: 0, w: 1, h: 1 });
    const item = { key, element, panel, entry, number };
    items.push(item);
    // Selected once (a click focuses first): the inspector keeps what is typed in it.
    const choose = () => {
      if (state.selected !== key || !inspectorHolder.querySelector(`[data-panel="${CSS.escape(panel.id)}"]`)) select(item);
    };
    element.addEventListener('click', choose);
    element.addEventListener('focus', choose);
    element.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        select(item);
        inspectorHolder.querySelector('input, button')?.focus();
      }
    });
    sheet.append(element);
  });
  const chosen = items.find((item) => item.key === state.selected);
  if (chosen) select(chosen);
  else inspectorHolder.append(h('p', { class: 'muted small' }, t('Select a panel to see its image, draw it again or crop it.')));
  const nav = pageNav('art', pages.map((each, index) => each.number ?? index + 1), p, goTo);
  return h('div', { class: 'art-editor' }, progress, nav, help, h('div', { class: 'sb-layout' }, sheet, inspectorHolder));
}

function artInspector(ctx, panel, entry, number, drawing) {
  const { editable } = ctx;
  const key = `art.panels.${panel.id}`;
  const header = h('h3', {}, t('Panel {n}', { n: number }), h('span', { class: 'muted small' }, ` ${panel.id}`));
  if (!entry || !entry.asset_id) {
    return h('div', { class: 'sb-details', dataset: { panel: panel.id } }, header, h('p', { class: 'muted small' }, drawing ? t('Its image is being drawn.') : t('This panel has no image yet.')));
  }
  const facts = [
    [t('Source'), entry.reused ? SOURCE_WORDS.reused : (SOURCE_WORDS[entry.source] || text(entry.source))],
    [t('Model'), text(entry.model)],
  ];
  if (entry.width && entry.height) facts.push([t('Size'), `${entry.width} × ${entry.height}`]);
  if (entry.reused) {
    facts.push([t('Likeness'), t('{score}% alike ({method})', { score: Math.round((entry.reused.score || 0) * 100), method: text(entry.reused.method) })]);
  }
  const reasons = (entry.fallback && entry.fallback.reasons) || [];
  return h('div', { class: 'sb-details art-details', dataset: { panel: panel.id } },
    header,
    h('dl', { class: 'params' }, facts.flatMap(([name, value]) => [h('dt', {}, name), h('dd', {}, value)])),
    reasons.length ? h('div', { class: 'warn-box', id: 'art-fallback' }, t('Why a fallback was drawn:'), h('ul', {}, reasons.map((reason) => h('li', {}, reason)))) : null,
    entry.prompt ? h('details', { class: 'small art-prompt', dataset: { key: `art-prompt:${panel.id}` } }, h('summary', {}, t('Prompt')), h('p', {}, entry.prompt)) : null,
    regenerateForm(ctx, key, editable && !drawing),
    variantsList(ctx, key, entry.variants || [], editable && !drawing),
    cropForm(ctx, key, entry, editable && !drawing));
}

function regenerateForm(ctx, key, editable) {
  const seed = h('input', {
    type: 'number', id: 'art-seed', name: 'seed', min: 0, step: 1, inputmode: 'numeric', placeholder: t('random'), dataset: { key: 'art-seed' },
  });
  const words = h('input', { type: 'text', id: 'art-words', name: 'words', maxlength: 500, dataset: { key: 'art-words' } });
  const submit = h('button', { class: 'btn primary', type: 'submit', id: 'art-regenerate' }, t('Draw it again'));
  const form = h('form', { class: 'art-form', id: 'art-regenerate-form', 'aria-labelledby': 'art-regenerate-title', novalidate: true },
    h('h4', { id: 'art-regenerate-title' }, t('Draw it again')),
    h('fieldset', { class: 'editor-fields', disabled: !editable },
      h('legend', { class: 'sr-only' }, t('Draw it again')),
      h('div', { class: 'fields-2' },
        field(t('Seed (optional)'), seed),
        field(t('Words to add (optional)'), words, t('For example: at night, close-up, in the rain.'))),
      submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    setFieldError(seed, null);
    const data = {};
    if (seed.value !== '') {
      const value = Number(seed.value);
      if (!Number.isInteger(value) || value < 0) {
        setFieldError(seed, t('A whole number, 0 or more.'));
        seed.focus();
        return;
      }
      data.seed = value;
    }
    if (words.value.trim()) data.words = words.value.trim();
    submit.disabled = true;
    const done = await ctx.change({ change_type: 'regenerate', element_id: key, change_data: data }, null,
      t('The panel is being drawn again.'));
    if (!done && submit.isConnected) submit.disabled = false;
  });
  return form;
}

function variantsList(ctx, key, variants, editable) {
  if (!variants.length) return null;
  return h('div', { class: 'art-variants', role: 'group', 'aria-labelledby': 'art-variants-title' },
    h('h4', { id: 'art-variants-title' }, t('Earlier images')),
    h('div', { class: 'variant-list' }, variants.map((variant, index) => h('button', {
      class: 'variant', type: 'button', disabled: !editable, dataset: { variant: String(index), key: `art-variant:${index}` },
      onclick: () => ctx.change({ change_type: 'selection', element_id: key, change_data: { variant: index } }, null, t('The earlier image is back.')),
    },
    h('img', { src: assetUrl(variant.asset_id, true), alt: t('Earlier image {n}', { n: index + 1 }) }),
    h('span', { class: 'small' }, t('Use this one'))))));
}

/** The crop: a box over the whole image (moved and resized with the pointer) and its numbers. */
function cropForm(ctx, key, entry, editable) {
  const whole = { x: 0, y: 0, w: 1, h: 1 };
  const saved = entry.crop || whole;
  let current = { ...saved };
  const number = (name, label) => h('input', {
    type: 'number', name: `crop-${name}`, id: `art-crop-${name}`, min: 0, max: 100, step: 1, inputmode: 'decimal', 'aria-label': label,
    dataset: { key: `art-crop-${name}` },
  });
  const inputs = {
    x: number('x', t('Left (%)')), y: number('y', t('Top (%)')), w: number('w', t('Width (%)')), h: number('h', t('Height (%)')),
  };
  const box = h('div', { class: 'crop-box', 'aria-hidden': 'true' }, editable ? h('span', { class: 'crop-resize' }) : null);
  const stage = h('div', { class: `crop-stage${editable ? ' editable' : ''}` },
    h('img', { src: assetUrl(entry.asset_id, true), alt: t('The whole image of the panel'), draggable: 'false' }), box);
  stage.style.aspectRatio = `${entry.width || 1} / ${entry.height || 1}`;
  const sync = (fromInputs = false) => {
    place(box, current);
    if (!fromInputs) for (const [name, input] of Object.entries(inputs)) input.value = String(Math.round(current[name] * 1000) / 10);
  };
  const fit = (rect) => {
    const w = clamp(rect.w, 0.02, 1);
    const hh = clamp(rect.h, 0.02, 1);
    return { x: clamp(rect.x, 0, 1 - w), y: clamp(rect.y, 0, 1 - hh), w, h: hh };
  };
  for (const input of Object.values(inputs)) {
    input.addEventListener('input', () => {
      const values = Object.fromEntries(Object.entries(inputs).map(([name, each]) => [name, Number(each.value) / 100]));
      if (Object.values(values).some((value) => !Number.isFinite(value))) return;
      current = fit(values);
      sync(true);
    });
  }
  if (editable) {
    box.addEventListener('pointerdown', (event) => {
      if (event.button !== 0) return;
      event.preventDefault();
      const area = stage.getBoundingClientRect();
      const resizing = event.target.classList.contains('crop-resize');
      const start = { x: event.clientX, y: event.clientY, rect: { ...current } };
      box.setPointerCapture(event.pointerId);
      const onMove = (move) => {
        const dx = (move.clientX - start.x) / area.width;
        const dy = (move.clientY - start.y) / area.height;
        current = resizing
          ? fit({ ...start.rect, w: Math.min(start.rect.w + dx, 1 - start.rect.x), h: Math.min(start.rect.h + dy, 1 - start.rect.y) })
          : fit({ ...start.rect, x: start.rect.x + dx, y: start.rect.y + dy });
        sync();
      };
      const onEnd = () => {
        box.removeEventListener('pointermove', onMove);
        box.removeEventListener('pointerup', onEnd);
        box.removeEventListener('pointercancel', onEnd);
      };
      box.addEventListener('pointermove', onMove);
      box.addEventListener('pointerup', onEnd);
      box.addEventListener('pointercancel', onEnd);
    });
  }
  const reset = h('button', { class: 'btn small', type: 'button', dataset: { key: 'art-crop-whole' } }, t('The whole image'));
  reset.addEventListener('click', () => {
    current = { ...whole };
    sync();
  });
  const apply = h('button', { class: 'btn', type: 'submit', id: 'art-crop-apply' }, t('Apply the crop'));
  const form = h('form', { class: 'art-form', id: 'art-crop-form', 'aria-labelledby': 'art-crop-title', novalidate: true },
    h('h4', { id: 'art-crop-title' }, t('Crop')),
    h('p', { class: 'small muted', id: 'art-crop-help' }, t('The part of the image the panel shows: drag the box or its corner, or type its place in percent of the image.')),
    h('fieldset', { class: 'editor-fields', disabled: !editable },
      h('legend', { class: 'sr-only' }, t('Crop')),
      stage,
      h('div', { class: 'crop-numbers' }, Object.entries(inputs).map(([name, input]) => h('label', { class: 'small', for: input.id },
        { x: t('Left'), y: t('Top'), w: t('Width'), h: t('Height') }[name], input, '%'))),
      h('div', { class: 'row' }, apply, reset)));
  sync();
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const crop = { x: round4(current.x), y: round4(current.y), w: round4(current.w), h: round4(current.h) };
    crop.x = Math.min(crop.x, round4(1 - crop.w));
    crop.y = Math.min(crop.y, round4(1 - crop.h));
    if (['x', 'y', 'w', 'h'].every((name) => Math.abs(crop[name] - saved[name]) < 1e-4)) return;
    await ctx.change({ change_type: 'drag_drop', element_id: key, change_data: { crop } }, null, t('Cropped: a new version.'));
  });
  return form;
}

/* Phase 6: the lettering */

export function letteringEditor(ctx) {
  const { doc, editable, state } = ctx;
  const pages = (doc.lettering && doc.lettering.pages) || [];
  if (!pages.length) return h('p', { class: 'empty' }, t('No lettered pages yet.'));
  state.pageIndex = clamp(state.pageIndex, 0, pages.length - 1);
  const p = state.pageIndex;
  const lettered = pages[p];
  const pageNumber = lettered.number ?? p + 1;
  const story = storyPage(doc, lettered.number, p);
  const entries = artEntries(doc);
  const goTo = (index) => {
    state.pageIndex = index;
    state.selected = null;
    ctx.rerender();
  };
  const live = h('p', { class: 'small muted', id: 'lt-live', role: 'status' });
  const help = h('p', { class: 'small muted', id: 'lt-help' }, editable
    ? t('Drag a balloon to move it, or its corner to resize it; double-click it to edit its text. With the keyboard: focus a balloon, move it with the arrow keys (Shift and the arrows resize it), Enter saves the move, or edits the text when nothing moved; Escape puts it back.')
    : t('The balloons can be changed while the run waits for feedback.'));
  const sheet = h('div', {
    class: `book-page lt-page${editable ? ' editable' : ''}`, id: 'lettering-sheet', role: 'group', 'aria-describedby': 'lt-help',
    'aria-label': t('Lettered page {n}', { n: pageNumber }), dataset: { page: String(p) },
  });
  // The panels' images, then the sound effects, then the balloons' tails: for the eyes.
  const art = h('div', { class: 'lt-art', 'aria-hidden': 'true' });
  for (const panel of story.panels || []) {
    const entry = entries.get(panel.id);
    const holder = h('div', { class: 'lt-panel', dataset: { panel: panel.id } }, entry && entry.asset_id ? framedImage(entry) : null);
    place(holder, panel.frame || { x: 0, y: 0, w: 1, h: 1 });
    art.append(holder);
  }
  const lines = svg('svg', { class: 'lt-lines', viewBox: `0 0 ${PAGE.width} ${PAGE.height}`, preserveAspectRatio: 'none', focusable: 'false' });
  art.append(lines);
  for (const effect of lettered.effects || []) {
    if (!effect.frame) continue;
    if (effect.kind === 'speed_lines' || effect.kind === 'focus_lines') {
      lines.append(effectLines(effect));
    } else if (effect.kind === 'sfx' && effect.text) {
      const sfx = h('div', { class: 'lt-sfx', dataset: { effect: text(effect.id) } }, effect.text);
      place(sfx, effect.frame);
      const size = Math.min(effect.frame.h * (PAGE.height / PAGE.width) * 0.8, (effect.frame.w / Math.max(1, [...effect.text].length)) * 0.95);
      sfx.style.fontSize = `${size * 100}cqw`;
      if (effect.angle) sfx.style.transform = `rotate(${Number(effect.angle)}deg)`;
      art.append(sfx);
    }
  }
  const tails = svg('svg', { class: 'lt-tails', viewBox: `0 0 ${PAGE.width} ${PAGE.height}`, preserveAspectRatio: 'none', 'aria-hidden': 'true', focusable: 'false' });
  sheet.append(art, tails);
  const inspectorHolder = h('div', { id: 'lt-inspector' });
  const items = [];

  const changed = (item) => ['x', 'y', 'w', 'h'].some((key) => Math.abs(item.original[key] - item.current[key]) > 1e-9);
  const describe = (item) => {
    const c = item.current;
    const note = changed(item) ? ` ${t('(not saved: Enter saves, Escape puts it back)')}` : '';
    return t('{kind} balloon “{text}”: left {x}, top {y}, width {w}, height {h}', {
      kind: BALLOON_KINDS[item.balloon.kind] || text(item.balloon.kind), text: item.words,
      x: percent(c.x), y: percent(c.y), w: percent(c.w), h: percent(c.h),
    }) + note;
  };
  const drawTail = (item) => {
    if (!item.tail) return;
    const c = item.current;
    const cx = (c.x + c.w / 2) * PAGE.width;
    const cy = (c.y + c.h / 2) * PAGE.height;
    const tx = item.balloon.tail.x * PAGE.width;
    const ty = item.balloon.tail.y * PAGE.height;
    // A wedge from the balloon's centre to the tail's tip, its base across the way to it.
    const length = Math.hypot(tx - cx, ty - cy) || 1;
    const half = Math.max(6, Math.min(c.w * PAGE.width, c.h * PAGE.height) * 0.18);
    const nx = (-(ty - cy) / length) * half;
    const ny = ((tx - cx) / length) * half;
    item.tail.setAttribute('d', `M${(cx + nx).toFixed(1)},${(cy + ny).toFixed(1)} L${tx.toFixed(1)},${ty.toFixed(1)} L${(cx - nx).toFixed(1)},${(cy - ny).toFixed(1)} Z`);
  };
  const show = (item) => {
    place(item.element, item.current);
    item.element.classList.toggle('unsaved', changed(item));
    item.name.textContent = describe(item);
    drawTail(item);
  };
  const revert = (item) => {
    item.current = { ...item.original };
    show(item);
    live.textContent = t('Put back.');
  };
  const moved = (rect, dx, dy) => ({ ...rect, x: clamp(rect.x + dx, 0, 1 - rect.w), y: clamp(rect.y + dy, 0, 1 - rect.h) });
  const resized = (rect, dw, dh) => ({ ...rect, w: clamp(rect.w + dw, SMALLEST, 1 - rect.x), h: clamp(rect.h + dh, SMALLEST, 1 - rect.y) });

  async function commit(item) {
    const c = item.current;
    const w = round4(c.w);
    const hh = round4(c.h);
    const frame = { x: Math.min(round4(c.x), round4(1 - w)), y: Math.min(round4(c.y), round4(1 - hh)), w, h: hh };
    live.textContent = t('Saving…');
    state.selected = item.key;
    if (!(await ctx.change({ change_type: 'drag_drop', element_id: item.key, change_data: { frame } }))) revert(item);
  }

  /** The text edited in place: a text area over the balloon; Enter saves, Escape does not. */
  function editText(item) {
    if (!editable || item.editing) return;
    item.editing = true;
    select(item);
    const area = h('textarea', {
      class: `lt-edit${item.balloon.vertical ? ' vertical' : ''}`, rows: 3, 'aria-label': t('Text of the balloon'), 'aria-describedby': 'lt-edit-help',
      dataset: { key: `${item.key}:edit`, balloon: item.balloon.id },
    });
    const hint = h('span', { class: 'sr-only', id: 'lt-edit-help' }, t('Enter saves, Shift and Enter start a new line, Escape leaves it as it was.'));
    area.value = text(item.balloon.text);
    place(area, item.current);
    item.element.classList.add('editing');
    sheet.append(area, hint);
    area.focus();
    area.select();
    live.textContent = t('Editing the text: Enter saves, Escape leaves it as it was.');
    let finished = false;
    const close = () => {
      area.remove();
      hint.remove();
      item.element.classList.remove('editing');
      item.editing = false;
    };
    const finish = async (save) => {
      if (finished) return;
      finished = true;
      const value = area.value.replace(/\s+$/, '');
      if (save && value.trim() && value !== text(item.balloon.text)) {
        live.textContent = t('Saving…');
        state.selected = item.key;
        const saved = await ctx.change({ change_type: 'text_edit', element_id: `${item.key}.text`, change_data: { new_value: value } });
        if (saved) return;
      }
      close();
      if (item.element.isConnected) item.element.focus({ preventScroll: true });
      live.textContent = save ? '' : t('Put back.');
    };
    area.addEventListener('keydown', (event) => {
      event.stopPropagation();
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        finish(true);
      } else if (event.key === 'Escape') {
        event.preventDefault();
        finish(false);
      }
    });
    area.addEventListener('blur', () => finish(true));
    area.addEventListener('pointerdown', (event) => event.stopPropagation());
  }

  function select(item) {
    const again = state.selected === item.key && inspectorHolder.firstElementChild && inspectorHolder.firstElementChild.dataset.balloon === item.balloon.id;
    state.selected = item.key;
    for (const other of items) other.element.classList.toggle('selected', other === item);
    if (!again) clear(inspectorHolder).append(balloonInspector(ctx, item, editable, () => editText(item)));
  }

  function wire(item) {
    const { element } = item;
    element.addEventListener('focus', () => select(item));
    if (!editable) return;
    element.addEventListener('keydown', (event) => {
      if (event.target !== element) return;
      const arrow = ARROWS[event.key];
      if (arrow) {
        event.preventDefault();
        const [dx, dy] = arrow;
        item.current = event.shiftKey ? resized(item.current, dx * STEP, dy * STEP) : moved(item.current, dx * STEP, dy * STEP);
        show(item);
        live.textContent = describe(item);
      } else if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        if (changed(item)) commit(item);
        else if (event.key === 'Enter') editText(item);
      } else if (event.key === 'F2') {
        event.preventDefault();
        editText(item);
      } else if (event.key === 'Escape' && changed(item)) {
        event.preventDefault();
        revert(item);
      }
    });
    let lastTap = 0;
    element.addEventListener('pointerdown', (event) => {
      if (event.button !== 0 || item.editing) return;
      event.preventDefault();
      element.focus({ preventScroll: true });
      const area = sheet.getBoundingClientRect();
      const resizing = event.target.classList.contains('sb-resize');
      const start = { x: event.clientX, y: event.clientY, rect: { ...item.current } };
      let dragged = false;
      element.setPointerCapture(event.pointerId);
      const onMove = (move) => {
        if (!dragged && Math.hypot(move.clientX - start.x, move.clientY - start.y) < 3) return;
        dragged = true;
        element.classList.add('dragging');
        const dx = (move.clientX - start.x) / area.width;
        const dy = (move.clientY - start.y) / area.height;
        item.current = resizing ? resized(start.rect, dx, dy) : moved(start.rect, dx, dy);
        show(item);
      };
      const onEnd = (end) => {
        element.removeEventListener('pointermove', onMove);
        element.removeEventListener('pointerup', onEnd);
        element.removeEventListener('pointercancel', onEnd);
        element.classList.remove('dragging');
        if (end.type === 'pointercancel') {
          revert(item);
        } else if (dragged && changed(item)) {
          commit(item);
        } else if (!dragged) {
          // A second tap soon after the first: edit the text (a double click,
          // which a pointer held by this handler does not always send).
          const now = Date.now();
          if (now - lastTap < 450) {
            lastTap = 0;
            editText(item);
          } else {
            lastTap = now;
          }
        }
      };
      element.addEventListener('pointermove', onMove);
      element.addEventListener('pointerup', onEnd);
      element.addEventListener('pointercancel', onEnd);
    });
  }

  (lettered.balloons || []).forEach((balloon, index) => {
    const id = text(balloon.id) || String(index);
    const key = `lettering.pages.${p}.balloons.${id}`;
    const words = text(balloon.text);
    const frame = balloon.frame || { x: 0.4, y: 0.4, w: 0.2, h: 0.1 };
    const kind = BALLOON_KINDS[balloon.kind] ? balloon.kind : 'speech';
    const name = h('span', { class: 'sr-only' });
    const element = h('div', {
      class: `lt-balloon k-${kind}${balloon.vertical ? ' vertical' : ''}${balloon.bold ? ' bold' : ''}${balloon.overflow ? ' overflow' : ''}`,
      tabindex: 0, role: 'button', 'aria-describedby': 'lt-help', dataset: { balloon: id, key, element: key, kind },
    }, name, h('span', { class: 'lt-text', 'aria-hidden': 'true' }, words), editable ? h('span', { class: 'sb-resize', 'aria-hidden': 'true' }) : null);
    element.style.setProperty('--fs', String(balloon.fitted_font_size ?? balloon.font_size ?? 0.024));
    const tail = balloon.tail && kind !== 'narration' ? svg('path', { class: `lt-tail k-${kind}`, 'data-tail': id }) : null;
    if (tail) tails.append(tail);
    const original = { x: frame.x, y: frame.y, w: frame.w, h: frame.h };
    const item = { key, element, name, balloon: { ...balloon, id }, words: words.length > 40 ? `${words.slice(0, 40)}…` : words, tail, original, current: { ...original } };
    items.push(item);
    show(item);
    wire(item);
    element.addEventListener('dblclick', (event) => {
      event.preventDefault();
      editText(item);
    });
    sheet.append(element);
  });
  const chosen = items.find((item) => item.key === state.selected);
  if (chosen) {
    chosen.element.classList.add('selected');
    inspectorHolder.append(balloonInspector(ctx, chosen, editable, () => editText(chosen)));
  } else {
    inspectorHolder.append(h('p', { class: 'muted small' }, (lettered.balloons || []).length
      ? t('Select a balloon to edit its text, kind and type.')
      : t('This page has no balloons.')));
  }
  const numbers = pages.map((each, index) => each.number ?? index + 1);
  return h('div', { class: 'lettering-editor' }, pageNav('lt', numbers, p, goTo), help,
    h('div', { class: 'sb-layout lt-layout' }, h('div', {}, sheet, live), inspectorHolder));
}

function balloonInspector(ctx, item, editable, editInPlace) {
  const { balloon, key } = item;
  const sizeNow = Number(balloon.font_size ?? 0.024);
  const size = h('input', {
    type: 'number', id: 'lt-font-size', name: 'font_size', min: 0.5, max: 20, step: 0.1, inputmode: 'decimal',
    value: String(Math.round(sizeNow * 1000) / 10), dataset: { key: 'lt-font-size' },
  });
  const bold = h('input', { type: 'checkbox', id: 'lt-bold', name: 'bold', checked: Boolean(balloon.bold), dataset: { key: 'lt-bold' } });
  const styleForm = h('form', { class: 'lt-style', id: 'lt-style-form', novalidate: true },
    field(t('Type size (% of the page width)'), size),
    h('div', { class: 'field' }, h('label', { class: 'row', for: 'lt-bold' }, bold, t('Bold'))),
    h('button', { class: 'btn', type: 'submit', dataset: { key: 'lt-style-apply' } }, t('Apply the type')));
  styleForm.addEventListener('submit', (event) => {
    event.preventDefault();
    setFieldError(size, null);
    const data = {};
    const fraction = Math.round(Number(size.value) * 10) / 1000;
    if (!Number.isFinite(fraction) || fraction < 0.005 || fraction > 0.2) {
      setFieldError(size, t('From 0.5 to 20.'));
      size.focus();
      return;
    }
    if (Math.abs(fraction - sizeNow) > 1e-6) data.font_size = fraction;
    if (bold.checked !== Boolean(balloon.bold)) data.bold = bold.checked;
    if (!Object.keys(data).length) return;
    ctx.change({ change_type: 'style_adjust', element_id: key, change_data: data }, size);
  });
  return h('div', { class: 'sb-details lt-details', dataset: { balloon: balloon.id } },
    h('h3', {}, t('Balloon {id}', { id: balloon.id })),
    h('p', { class: 'small muted' }, balloon.speaker
      ? t('Panel {panel} · {speaker}', { panel: text(balloon.panel), speaker: ctx.speakerName(balloon.speaker) })
      : t('Panel {n}', { n: text(balloon.panel) })),
    balloon.overflow ? h('p', { class: 'warn-box small', id: 'lt-overflow' }, t('The text does not fit this balloon: make it larger, the text shorter or the type smaller.')) : null,
    ctx.editField(`${key}.text`, t('Text'), balloon.text, { long: true }),
    ctx.editField(`${key}.kind`, t('Kind'), BALLOON_KINDS[balloon.kind] ? balloon.kind : 'speech', { options: Object.entries(BALLOON_KINDS) }),
    h('fieldset', { class: 'editor-fields', disabled: !editable }, h('legend', { class: 'sr-only' }, t('Type')), styleForm),
    editable ? h('button', { class: 'btn small', type: 'button', dataset: { key: 'lt-edit-in-place' }, onclick: editInPlace }, t('Edit the text on the page')) : null);
}

/* Phase 7: the quality report and the book */

/** The signed links of a run's book (`GET /manga/{id}`), read once per version. */
const links = new Map();

export function bookEditor(ctx) {
  const { doc, run } = ctx;
  const report = doc.report || {};
  const problems = report.problems || [];
  const book = doc.book || null;
  const list = problems.length
    ? h('ul', { class: 'report-problems', id: 'report-problems' }, problems.map((problem, index) => h('li', {},
      h('button', {
        class: 'problem', type: 'button', dataset: { element: text(problem.element_id), kind: text(problem.kind), key: `problem:${index}` },
        onclick: () => ctx.focusElement(text(problem.element_id)),
      },
      h('span', { class: `chip problem-kind k-${text(problem.kind)}` }, PROBLEM_WORDS[problem.kind] || text(problem.kind)),
      h('span', { class: 'problem-where' }, problem.page ? t('Page {n}', { n: problem.page }) : t('The whole book')),
      h('span', { class: 'problem-message' }, text(problem.message))))))
    : h('p', { class: 'ok-box', id: 'report-clean' }, t('No problems found.'));
  const reportSection = h('section', { class: 'report', id: 'manga-report', 'aria-labelledby': 'report-title' },
    h('h3', { id: 'report-title' }, t('Quality report')),
    h('p', { class: 'small muted' }, report.checked_pages !== undefined
      ? t('{pages} pages checked, {n} problems found. Select a problem to go to what it names.', { pages: report.checked_pages, n: problems.length })
      : t('The report is made in phase 7.')),
    list);
  if (!book) return h('div', { class: 'book-editor' }, reportSection);

  const downloads = h('div', { class: 'row book-downloads', id: 'book-downloads' }, h('span', { class: 'muted small' }, t('Loading…')));
  const readHref = `#/manga/${encodeURIComponent(run.id)}/read`;
  const thumbs = h('ol', { class: 'book-thumbs', 'aria-label': t('Pages of the book') }, (book.pages || []).map((asset, index) => h('li', {},
    h('a', { href: `${readHref}?page=${index + 1}`, dataset: { page: String(index + 1) } },
      h('img', { src: assetUrl(asset, true), alt: t('Read from page {n}', { n: index + 1 }), loading: 'lazy' })))));
  const bookSection = h('section', { class: 'book-files', id: 'manga-book', 'aria-labelledby': 'book-title' },
    h('h3', { id: 'book-title' }, t('The book')),
    h('p', { class: 'small' }, t('{n} pages, read {direction}.', {
      n: book.page_count ?? (book.pages || []).length, direction: book.right_to_left ? t('right to left') : t('left to right'),
    })),
    downloads, thumbs);
  const version = ctx.versionId;
  const fill = (answer) => {
    const files = (answer && answer.manga_result && answer.manga_result.book) || {};
    clear(downloads).append(
      h('a', { class: 'btn primary', id: 'book-read', href: readHref }, t('Read')),
      files.pdf ? h('a', { class: 'btn', id: 'book-pdf', href: files.pdf, download: 'manga.pdf' }, t('Download the PDF')) : null,
      files.cbz ? h('a', { class: 'btn', id: 'book-cbz', href: files.cbz, download: 'manga.cbz' }, t('Download the CBZ')) : null,
      files.expires_at ? h('span', { class: 'muted small' }, t('These links work without signing in until {when}.', { when: humanTime(files.expires_at) })) : null);
  };
  if (!links.has(version)) links.set(version, get(`/manga/${encodeURIComponent(run.id)}`));
  links.get(version).then(fill, (error) => {
    links.delete(version);
    clear(downloads).append(h('a', { class: 'btn primary', id: 'book-read', href: readHref }, t('Read')),
      h('span', { class: 'error-box' }, describeError(error)));
  });
  return h('div', { class: 'book-editor' }, reportSection, bookSection);
}

/**
 * Where an `element_id` of the report leads: the part, the page and the element to
 * select (`null` when the document has no such element).
 */
export function locate(doc, elementId) {
  let match = elementId.match(/^lettering\.pages\.(\d+)\.balloons\.([^.]+)/);
  if (match) {
    const page = Number(match[1]);
    const balloons = (((doc.lettering && doc.lettering.pages) || [])[page] || {}).balloons || [];
    const balloon = balloons.find((each) => each.id === match[2]) || (/^\d+$/.test(match[2]) ? balloons[Number(match[2])] : null);
    const id = balloon ? text(balloon.id) || match[2] : match[2];
    return { part: 'lettering', pageIndex: page, selected: `lettering.pages.${page}.balloons.${id}` };
  }
  match = elementId.match(/^lettering\.pages\.(\d+)/);
  if (match) return { part: 'lettering', pageIndex: Number(match[1]), selected: null };
  match = elementId.match(/^art\.panels\.([^.]+)/);
  if (match) {
    const byIndex = /^\d+$/.test(match[1]) ? ((doc.art && doc.art.panels) || [])[Number(match[1])] : null;
    const id = byIndex ? byIndex.id : match[1];
    const pageIndex = (doc.pages || []).findIndex((page) => (page.panels || []).some((panel) => panel.id === id));
    return { part: 'art', pageIndex: Math.max(pageIndex, 0), selected: `art.panels.${id}` };
  }
  match = elementId.match(/^pages\.(\d+)(?:\.panels\.(\d+))?/);
  if (match) return { part: 'pages', pageIndex: Number(match[1]), selected: match[2] !== undefined ? `pages.${match[1]}.panels.${match[2]}` : null };
  return { part: null, pageIndex: null, selected: null };
}
