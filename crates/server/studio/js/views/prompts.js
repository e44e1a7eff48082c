// Prompt trees (seed 003): a prompt, its branches (an edit is a new child, so
// every version stays), feedback per prompt (a score of 1 to 5 and a comment), an
// AI comment when an agent wrote one, and each prompt's generation tasks with their
// status and outputs. `#/prompts` lists the trees; `#/prompts?id=prm_…` shows one.

import { del, get, patch, post, query } from '../api.js';
import { clear, confirmDialog, field, h, statusChip, toast } from '../dom.js';
import { t } from '../i18n.js';
import { openLightbox } from '../lightbox.js';
import { ACTIVE, describeError, humanTime, kindWord, STATUS_WORDS } from '../words.js';

const TYPES = ['image', 'video', 'audio', 'text'];
/** What a prompt is for, in words (the API's values stay as they are). */
const TYPE_WORDS = { image: t('image'), video: t('video'), audio: t('audio'), text: t('text') };

function typeWord(type) {
  return TYPE_WORDS[type] || type;
}

export async function promptsView(main, context) {
  const id = context.params.get('id');
  if (id) return treeView(main, context, id);
  return listView(main, context);
}

async function listView(main, { navigate }) {
  const content = h('textarea', { name: 'content', rows: 3, required: true, maxlength: 32000, placeholder: t('a lighthouse on a cliff at dusk') });
  const type = h('select', { name: 'type' }, TYPES.map((value) => h('option', { value }, typeWord(value))));
  const form = h('form', { class: 'panel', id: 'new-prompt-form' },
    h('h2', {}, t('New prompt tree')),
    field(t('Prompt'), content, t('The root of a tree. Later versions become its branches, so nothing you tried is lost.')),
    field(t('For'), type),
    h('button', { class: 'btn primary', type: 'submit' }, t('Create')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const prompt = await post('/prompts', { content: content.value, type: type.value });
      navigate('prompts', { id: prompt.id });
    } catch (error) {
      toast(describeError(error), 'error');
    }
  });

  const list = h('div', { id: 'prompt-roots' });
  const more = h('button', { class: 'btn', type: 'button', hidden: true }, t('Show more'));
  let cursor = null;
  async function load() {
    try {
      const page = await get(`/prompts${query({ cursor, limit: 30 })}`);
      for (const prompt of page.prompts) {
        list.append(h('a', { class: 'panel prompt-root', href: `#/prompts?id=${prompt.id}`, dataset: { prompt: prompt.id } },
          h('div', { class: 'row' }, h('span', { class: 'chip' }, typeWord(prompt.type)), h('span', { class: 'muted small' }, humanTime(prompt.created_at))),
          h('div', { class: 'prompt-content' }, prompt.content)));
      }
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      if (!list.childElementCount) list.append(h('p', { class: 'empty' }, t('No prompt trees yet.')));
    } catch (error) {
      toast(describeError(error), 'error');
    }
  }
  more.addEventListener('click', load);
  main.append(h('h1', {}, t('Prompts')), form, h('h2', {}, t('Your trees')), list, more);
  await load();
}

async function treeView(main, { navigate }, id) {
  const holder = h('div', { id: 'prompt-tree' });
  main.append(h('div', { class: 'row' }, h('h1', { class: 'grow' }, t('Prompt tree')), h('a', { class: 'btn', href: '#/prompts' }, t('All trees'))), holder);
  let timer = null;

  // Redrawing the tree (after a save, or every two seconds while a task runs) keeps
  // what the user was doing: the focused control, open branch forms, and text typed
  // but not saved.
  function remember() {
    const cardOf = (element) => element.closest('[data-prompt]').dataset.prompt;
    const typed = [...holder.querySelectorAll('textarea')].filter((area) => area.value !== area.dataset.saved)
      .map((area) => ({ prompt: cardOf(area), name: area.name, value: area.value }));
    const open = [...holder.querySelectorAll('form.branch-form:not([hidden])')].map(cardOf);
    const active = document.activeElement;
    let focus = null;
    if (active && holder.contains(active) && active.closest('[data-prompt]')) {
      const which = active.dataset.score ? `[data-score="${active.dataset.score}"]`
        : active.dataset.action ? `[data-action="${active.dataset.action}"]`
          : active.name ? `[name="${active.name}"]` : null;
      if (which) focus = { prompt: cardOf(active), which };
    }
    return { typed, open, focus };
  }

  function restore({ typed, open, focus }) {
    const inCard = (prompt, selector) => holder.querySelector(`[data-prompt="${prompt}"] ${selector}`);
    for (const prompt of open) {
      const form = inCard(prompt, 'form.branch-form');
      if (form) form.hidden = false;
    }
    for (const { prompt, name, value } of typed) {
      const area = inCard(prompt, `textarea[name="${name}"]`);
      if (area) area.value = value;
    }
    if (focus) inCard(focus.prompt, focus.which)?.focus();
  }

  async function load() {
    try {
      const root = await get(`/prompts/${id}/tree`);
      const state = remember();
      clear(holder).append(h('ul', { class: 'tree', role: 'tree', 'aria-label': t('Prompt tree') }, node(root, 1)));
      restore(state);
      const busy = JSON.stringify(root).match(/"status":"(pending|processing|retrying|waiting_input)"/);
      clearTimeout(timer);
      if (busy) timer = setTimeout(load, 2000);
    } catch (error) {
      clear(holder).append(h('div', { class: 'error-box', role: 'alert' }, describeError(error)));
    }
  }

  function stars(prompt) {
    const group = h('div', { class: 'stars', role: 'radiogroup', 'aria-label': t('Feedback score') });
    for (let score = 1; score <= 5; score += 1) {
      const on = (prompt.feedback_score || 0) >= score;
      group.append(h('button', {
        type: 'button', class: `star${on ? ' on' : ''}`, role: 'radio', 'aria-checked': prompt.feedback_score === score ? 'true' : 'false',
        'aria-label': t('{score} of 5', { score }), dataset: { score: String(score) },
        onclick: () => save(prompt, { feedback_score: prompt.feedback_score === score ? null : score }),
      }, on ? '★' : '☆'));
    }
    return group;
  }

  async function save(prompt, change) {
    try {
      await patch(`/prompts/${prompt.id}`, change);
      toast(t('Feedback saved.'), 'ok');
      load();
    } catch (error) {
      toast(describeError(error), 'error');
    }
  }

  function taskStrip(prompt) {
    const tasks = prompt.tasks || [];
    if (!tasks.length) return h('p', { class: 'muted small' }, t('Not generated yet.'));
    const outputs = tasks.flatMap((task) => (task.images || []).map((image) => ({ ...image, task_id: task.task_id })));
    return h('div', { class: 'prompt-tasks' },
      h('div', { class: 'tags' }, tasks.map((task) => h('span', { title: `${task.service}/${task.model} · ${humanTime(task.created_at)}` },
        statusChip(task.status, STATUS_WORDS)))),
      outputs.length ? h('div', { class: 'prompt-thumbs' }, outputs.slice(0, 8).map((image, index) => h('button', {
        class: 'tile', type: 'button', 'aria-label': t('Open the output'), dataset: { image: image.image_id },
        onclick: () => openLightbox(outputs, index, { navigate, onDeleted: load }),
      }, image.thumbnail_url ? h('img', { src: image.thumbnail_url, alt: '' }) : h('span', { class: 'kind' }, kindWord(image.mime_type))))) : null,
      tasks.some((task) => ACTIVE.has(task.status)) ? h('p', { class: 'muted small' }, t('Working…')) : null);
  }

  function node(prompt, depth) {
    const comment = h('textarea', { name: 'feedback_comment', rows: 2, maxlength: 4000, placeholder: t('What works, what does not') });
    comment.value = prompt.feedback_comment || '';
    comment.dataset.saved = comment.value;
    const branchText = h('textarea', { name: 'branch', rows: 3, maxlength: 32000 });
    branchText.value = prompt.content;
    branchText.dataset.saved = branchText.value;
    const branchForm = h('form', { class: 'branch-form', hidden: true },
      field(t('New version (a branch of this prompt)'), branchText),
      h('div', { class: 'row' }, h('button', { class: 'btn primary small', type: 'submit' }, t('Add the branch')),
        h('button', {
          class: 'btn small', type: 'button',
          onclick: () => {
            branchForm.hidden = true;
            branchText.value = branchText.dataset.saved;
            card.querySelector('[data-action=branch]').focus();
          },
        }, t('Cancel'))));
    branchForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        await post('/prompts', { content: branchText.value, type: prompt.type, parent_id: prompt.id });
        toast(t('Branch added.'), 'ok');
        branchForm.hidden = true;
        branchText.value = branchText.dataset.saved;
        card.querySelector('[data-action=branch]').focus();
        load();
      } catch (error) {
        toast(describeError(error), 'error');
      }
    });
    const children = prompt.children || [];
    const card = h('div', { class: 'panel prompt-node', dataset: { prompt: prompt.id } },
      h('div', { class: 'row' }, h('span', { class: 'chip' }, typeWord(prompt.type)), h('span', { class: 'muted small grow' }, humanTime(prompt.created_at)), stars(prompt)),
      h('div', { class: 'prompt-content' }, prompt.content),
      prompt.ai_comment ? h('div', { class: 'ai-comment small' }, h('strong', {}, t('AI comment: ')), prompt.ai_comment) : null,
      taskStrip(prompt),
      h('div', { class: 'row' },
        h('div', { class: 'grow' }, comment),
        h('button', {
          class: 'btn small', type: 'button', dataset: { action: 'save-comment' },
          onclick: () => save(prompt, { feedback_comment: comment.value.trim() || null }),
        }, t('Save comment'))),
      h('div', { class: 'row node-actions' },
        h('button', {
          class: 'btn primary small', type: 'button', dataset: { action: 'generate-prompt' },
          onclick: () => navigate('generate', { prompt: prompt.id }),
        }, t('Generate')),
        h('button', { class: 'btn small', type: 'button', dataset: { action: 'branch' }, onclick: () => { branchForm.hidden = false; branchText.focus(); } }, t('Branch')),
        children.length ? null : h('button', {
          class: 'btn small danger', type: 'button', dataset: { action: 'delete-prompt' },
          onclick: async () => {
            const sure = await confirmDialog({ title: t('Delete this prompt?'), text: t('Its tasks and outputs stay, unlinked.'), confirm: t('Delete'), danger: true });
            if (!sure) return;
            try {
              await del(`/prompts/${prompt.id}`);
              if (prompt.parent_id) load();
              else navigate('prompts');
            } catch (error) {
              toast(describeError(error), 'error');
            }
          },
        }, t('Delete'))),
      branchForm);
    return h('li', { role: 'treeitem', 'aria-level': depth, 'aria-expanded': children.length ? 'true' : null },
      card, children.length ? h('ul', { role: 'group' }, children.map((child) => node(child, depth + 1))) : null);
  }

  await load();
  return () => clearTimeout(timer);
}
