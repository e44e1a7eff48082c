// Tasks: the history of every task with a status chip, progress for running ones,
// errors in words, cancel and retry. Filters: status, model, tag (of an output),
// dates. Running tasks refresh themselves every two seconds.

import { get, post, query } from '../api.js';
import { clear, field, h, statusChip, toast } from '../dom.js';
import { t } from '../i18n.js';
import { openLightbox } from '../lightbox.js';
import { dayEnd, dayStart, pager } from '../paging.js';
import { ACTIVE, copyNote, describeError, describeTaskError, humanTime, STATUS_WORDS, taskPrompt } from '../words.js';

const PAGE = 30;

export async function tasksView(main, { params, navigate, models }) {
  const all = await models();
  const filters = {
    status: params.get('status') || '',
    model: params.get('model') || '',
    tag: params.get('tag') || '',
    created_after: params.get('created_after') || '',
    created_before: params.get('created_before') || '',
  };
  const status = h('select', { name: 'status' }, h('option', { value: '' }, t('Any status')),
    Object.entries(STATUS_WORDS).map(([value, words]) => h('option', { value, selected: value === filters.status }, words)));
  const model = h('select', { name: 'model' }, h('option', { value: '' }, t('All models')),
    all.map((m) => h('option', { value: m.id, selected: m.id === filters.model }, m.id)));
  const tag = h('input', { type: 'search', name: 'tag', value: filters.tag, placeholder: t('any tag') });
  const after = h('input', { type: 'date', name: 'created_after', value: filters.created_after });
  const before = h('input', { type: 'date', name: 'created_before', value: filters.created_before });
  const form = h('form', { class: 'panel filters', id: 'task-filters', role: 'search', 'aria-label': t('Task filters') },
    field(t('Status'), status), field(t('Model'), model), field(t('Tag'), tag), field(t('From'), after), field(t('Until'), before),
    h('div', { class: 'field filter-actions' }, h('div', { class: 'label', 'aria-hidden': 'true' }, '\u00a0'),
      h('div', { class: 'row' }, h('button', { class: 'btn primary', type: 'submit' }, t('Filter')),
        h('button', { class: 'btn', type: 'button', onclick: () => navigate('tasks') }, t('Clear filters')))));
  function apply() {
    const next = {};
    for (const [key, input] of [['status', status], ['model', model], ['tag', tag], ['created_after', after], ['created_before', before]]) {
      if (input.value.trim()) next[key] = input.value.trim();
    }
    navigate('tasks', next);
  }
  for (const control of [status, model, after, before]) control.addEventListener('change', apply);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    apply();
  });

  const list = h('div', { id: 'task-list' });
  const note = h('p', { class: 'empty', 'aria-live': 'polite' });
  const sentinel = h('div', { class: 'sentinel' });
  main.append(h('h1', {}, t('Tasks')), form, h('div', { class: 'panel' }, list, note, sentinel));

  const rows = new Map();

  function row(task) {
    const first = (task.images || [])[0];
    const thumb = h('button', {
      class: 'thumb', type: 'button', disabled: !first, 'aria-label': first ? t('Open the output') : t('No output'),
      onclick: () => {
        if (!first) return;
        const images = task.images.map((image) => ({ ...image, task_id: task.task_id }));
        const again = () => refresh(task.task_id);
        openLightbox(images, 0, { navigate, onDeleted: again, onTagsChanged: again });
      },
    }, first && first.thumbnail_url ? h('img', { src: first.thumbnail_url, alt: '' })
      : first && (first.mime_type || '').startsWith('model/') ? h('span', { class: 'kind', 'aria-hidden': 'true' }, t('3D')) : null);
    const actions = h('div', { class: 'actions' });
    if (ACTIVE.has(task.status)) {
      actions.append(h('button', { class: 'btn small', type: 'button', dataset: { action: 'cancel' }, onclick: () => act(task, 'cancel') }, t('Cancel')));
    }
    if (['failed', 'cancelled', 'expired'].includes(task.status)) {
      actions.append(h('button', { class: 'btn small', type: 'button', dataset: { action: 'retry' }, onclick: () => act(task, 'retry') }, t('Retry')));
    }
    actions.append(h('button', {
      class: 'btn small ghost', type: 'button', dataset: { action: 'reuse' },
      onclick: () => navigate('generate', { from: task.task_id }),
    }, t('Reuse settings')));
    const meta = h('div', { class: 'meta' },
      h('div', { class: 'row' }, statusChip(task.status, STATUS_WORDS), h('span', { class: 'muted small' }, `${task.service}/${task.model} · ${humanTime(task.created_at)}`),
        task.retry_of ? h('span', { class: 'muted small' }, t('(a retry)')) : null),
      h('div', { class: 'prompt', title: taskPrompt(task) }, taskPrompt(task) || h('span', { class: 'muted' }, t('(no prompt)'))),
      tagLinks(task),
      inputCopies(task),
      ACTIVE.has(task.status) ? h('div', { class: 'progress', role: 'progressbar', 'aria-valuenow': task.progress || 0, 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-label': t('Progress') },
        progressBar(task.progress)) : null,
      task.status === 'failed' || task.status === 'expired' ? h('div', { class: 'error-box' }, describeTaskError(task)) : null);
    return h('div', { class: 'task-row', dataset: { task: task.task_id, status: task.status } }, thumb, meta, actions);
  }

  // The copies the provider holds of the task's input files (seed 003: Kie's expire
  // after 3 days), each with its expiry; a warning when one has expired or will
  // within a day.
  function inputCopies(task) {
    const copies = task.input_copies || [];
    if (!copies.length) return null;
    return h('ul', { class: 'copies small', 'aria-label': t('Input files at the provider') }, copies.map((copy) => {
      const note = copyNote(copy);
      return h('li', { class: note.warn ? 'warn-box' : 'muted', dataset: { copyState: copy.state } },
        h('span', { class: 'mono' }, t('Input {n}', { n: copy.position + 1 })), ': ', note.text);
    }));
  }

  // The tags of the task's outputs, each a link to the tasks carrying it.
  function tagLinks(task) {
    const tags = [...new Set((task.images || []).flatMap((image) => image.tags || []))].sort();
    if (!tags.length) return null;
    return h('div', { class: 'tags' }, tags.map((name) => h('span', { class: 'tag' },
      h('a', { href: `#/tasks?tag=${encodeURIComponent(name)}`, title: t('Show the tasks tagged {tag}', { tag: name }) }, name))));
  }

  function progressBar(progress) {
    const bar = h('span', {});
    bar.style.width = `${progress || 0}%`;
    return bar;
  }

  function put(task) {
    const node = row(task);
    const old = rows.get(task.task_id);
    if (old) old.replaceWith(node);
    else list.append(node);
    rows.set(task.task_id, node);
    rows.get(task.task_id).task = task;
  }

  async function act(task, action) {
    try {
      const result = await post(`/tasks/${task.task_id}/${action}`);
      if (action === 'retry') {
        toast(t('Sent again as a new task.'), 'ok');
        const fresh = row(result);
        rows.set(result.task_id, fresh);
        fresh.task = result;
        list.prepend(fresh);
      } else {
        toast(t('Cancelled.'), 'ok');
      }
      await refresh(task.task_id);
    } catch (error) {
      toast(describeError(error), 'error');
    }
  }

  async function refresh(id) {
    try {
      put(await get(`/tasks/${id}`));
    } catch (error) {
      if (error.status === 404) {
        rows.get(id)?.remove();
        rows.delete(id);
      }
    }
  }

  const pages = pager(sentinel, async (cursor) => {
    note.textContent = t('Loading…');
    try {
      const page = await get(`/tasks${query({
        status: filters.status, model: filters.model, tag: filters.tag, created_after: dayStart(filters.created_after),
        created_before: dayEnd(filters.created_before), cursor, limit: PAGE,
      })}`);
      for (const task of page.tasks) put(task);
      note.textContent = rows.size ? '' : t('No tasks here yet.');
      return page.next_cursor || null;
    } catch (error) {
      clear(note).append(h('span', { class: 'error-box' }, describeError(error)));
      return null;
    }
  });
  const timer = setInterval(() => {
    for (const [id, node] of rows) if (node.task && ACTIVE.has(node.task.status)) refresh(id);
  }, 2000);
  await pages.loadMore();
  return () => {
    pages.stop();
    clearInterval(timer);
  };
}
