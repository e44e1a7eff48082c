// Gallery: every output as a thumbnail grid, newest first, loaded page by page as
// you scroll. Filters (model, tag, dates) live in the address (`#/gallery?tag=fox`),
// so a filtered view can be bookmarked and a tag link leads here.

import { get, query } from '../api.js';
import { clear, field, h } from '../dom.js';
import { t } from '../i18n.js';
import { openLightbox } from '../lightbox.js';
import { tileContent } from '../media.js';
import { dayEnd, dayStart, pager } from '../paging.js';
import { describeError } from '../words.js';

const PAGE = 40;
/** The active filters' names, as the heading lists them (`tag: fox · after: …`). */
const FILTER_WORDS = { model: t('model'), tag: t('tag'), created_after: t('after'), created_before: t('before') };

function outputCount(n) {
  return n === 1 ? t('1 output.') : t('{n} outputs.', { n });
}

export async function galleryView(main, { params, navigate, models }) {
  const all = await models();
  const filters = {
    model: params.get('model') || '',
    tag: params.get('tag') || '',
    created_after: params.get('created_after') || '',
    created_before: params.get('created_before') || '',
  };

  const model = h('select', { name: 'model' }, h('option', { value: '' }, t('All models')),
    all.map((m) => h('option', { value: m.id, selected: m.id === filters.model }, m.id)));
  const tag = h('input', { type: 'search', name: 'tag', value: filters.tag, placeholder: t('any tag') });
  const after = h('input', { type: 'date', name: 'created_after', value: filters.created_after.slice(0, 10) });
  const before = h('input', { type: 'date', name: 'created_before', value: filters.created_before.slice(0, 10) });
  const reset = h('button', { class: 'btn', type: 'button', onclick: () => navigate('gallery') }, t('Clear filters'));
  const form = h('form', { class: 'panel filters', id: 'gallery-filters', role: 'search', 'aria-label': t('Gallery filters') },
    field(t('Model'), model), field(t('Tag'), tag), field(t('From'), after), field(t('Until'), before),
    h('div', { class: 'field filter-actions' }, h('div', { class: 'label', 'aria-hidden': 'true' }, '\u00a0'),
      h('div', { class: 'row' }, h('button', { class: 'btn primary', type: 'submit' }, t('Filter')), reset)));

  function apply() {
    const next = {};
    if (model.value) next.model = model.value;
    if (tag.value.trim()) next.tag = tag.value.trim();
    if (after.value) next.created_after = after.value;
    if (before.value) next.created_before = before.value;
    navigate('gallery', next);
  }
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    apply();
  });
  model.addEventListener('change', apply);
  after.addEventListener('change', apply);
  before.addEventListener('change', apply);

  const grid = h('div', { class: 'grid', id: 'gallery-grid' });
  const status = h('p', { class: 'empty', 'aria-live': 'polite' });
  const sentinel = h('div', { class: 'sentinel' });
  const images = [];

  const active = Object.entries(filters).filter(([, v]) => v);
  main.append(
    h('div', { class: 'row' }, h('h1', { class: 'grow' }, t('Gallery')),
      active.length ? h('span', { class: 'muted small', id: 'active-filters' }, active.map(([k, v]) => `${FILTER_WORDS[k]}: ${v}`).join(' · ')) : null),
    form, grid, status, sentinel);

  function tile(image) {
    const label = image.tags && image.tags.length ? image.tags.join(', ') : '';
    return h('button', {
      class: 'tile', type: 'button', dataset: { image: image.image_id },
      'aria-label': label ? t('Open output {id} tagged {tags}', { id: image.image_id, tags: label }) : t('Open output {id}', { id: image.image_id }),
      onclick: () => openLightbox(images, images.indexOf(image), {
        navigate,
        onDeleted: (gone) => {
          grid.querySelector(`[data-image="${gone.image_id}"]`)?.remove();
          if (!images.length) status.textContent = t('Nothing here yet.');
        },
        onTagsChanged: (changed) => {
          const node = grid.querySelector(`[data-image="${changed.image_id}"]`);
          if (node) node.replaceWith(tile(changed));
        },
      }),
    },
    tileContent(image),
    // A 3D model's thumbnail looks like a picture: the badge says it turns.
    image.thumbnail_url && (image.mime_type || '').startsWith('model/') ? h('span', { class: 'tile-badge' }, t('3D')) : null,
    label ? h('span', { class: 'tile-label' }, label) : null);
  }

  // Dates are whole days in the viewer's time zone.
  const pages = pager(sentinel, async (cursor) => {
    status.textContent = t('Loading…');
    try {
      const page = await get(`/assets${query({
        model: filters.model, tag: filters.tag, created_after: dayStart(filters.created_after),
        created_before: dayEnd(filters.created_before), cursor, limit: PAGE,
      })}`);
      for (const image of page.images) {
        images.push(image);
        grid.append(tile(image));
      }
      const next = page.next_cursor || null;
      status.textContent = images.length ? (next ? '' : outputCount(images.length)) : t('Nothing here yet.');
      return next;
    } catch (error) {
      clear(status).append(h('span', { class: 'error-box' }, describeError(error)));
      return null;
    }
  });
  await pages.loadMore();
  return pages.stop;
}
