// Generate: pick a model, fill the form drawn from its input schema, submit, then
// watch each task's progress live on its event stream (SSE); outputs appear in a
// grid as tasks finish. `#/generate?from=<task id>` starts from a task's settings.

import { get, post } from '../api.js';
import { clear, h, statusChip, toast } from '../dom.js';
import { t, tParts } from '../i18n.js';
import { openLightbox } from '../lightbox.js';
import { tileContent } from '../media.js';
import { schemaForm } from '../schema-form.js';
import { ACTIVE, describeError, describeTaskError, STATUS_WORDS, taskPrompt } from '../words.js';

export async function generateView(main, { params, navigate, models }) {
  const all = await models();
  const usable = all.filter((model) => model.usable);
  const streams = new Set();
  const outputs = [];

  const picker = h('select', { id: 'model-picker', name: 'model' });
  const byService = new Map();
  for (const model of usable) {
    if (!byService.has(model.service)) byService.set(model.service, []);
    byService.get(model.service).push(model);
  }
  for (const [service, list] of byService) {
    picker.append(h('optgroup', { label: service }, list.map((model) => h('option', { value: model.id }, `${model.title} (${model.id})`))));
  }
  const unusable = all.filter((model) => !model.usable);
  const description = h('p', { class: 'model-desc', id: 'model-desc' });
  const formSlot = h('div', {});
  const message = h('div', { class: 'error-box', role: 'alert', hidden: true });
  const submit = h('button', { class: 'btn primary block', type: 'submit', id: 'generate-submit' }, t('Generate'));
  const jobs = h('div', { id: 'jobs' });
  // Generating for a prompt of a prompt tree: its tasks are linked to it.
  let promptId = null;
  const promptBanner = h('div', { class: 'ok-box small', id: 'prompt-banner', hidden: true });
  const grid = h('div', { class: 'grid', id: 'results' });
  const emptyNote = h('p', { class: 'empty', id: 'results-empty' }, t('Your results appear here as they finish.'));
  let form = null;

  function chooseModel(id, input) {
    const model = usable.find((m) => m.id === id) || usable.find((m) => m.is_default) || usable[0];
    if (!model) return;
    picker.value = model.id;
    description.textContent = model.description;
    form = schemaForm(model);
    clear(formSlot).append(form.element);
    if (input) form.setValues(input);
  }

  picker.addEventListener('change', () => chooseModel(picker.value));

  const panel = h('form', { class: 'panel form', id: 'generate-form', novalidate: true },
    h('h1', {}, t('Generate')),
    promptBanner,
    h('div', { class: 'field' }, h('label', { for: 'model-picker' }, t('Model')), picker, description),
    formSlot, message, submit,
    unusable.length ? h('p', { class: 'muted small' },
      t('{n} more models need a provider key; an administrator sees which under Admin.', { n: unusable.length })) : null);

  panel.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!form) return;
    message.hidden = true;
    form.clearErrors();
    const invalid = panel.querySelector(':invalid');
    if (invalid) {
      invalid.reportValidity();
      return;
    }
    submit.disabled = true;
    try {
      const body = { model: picker.value, input: form.values() };
      if (promptId) body.prompt_id = promptId;
      const task = await post('/tasks', body, {
        headers: { 'idempotency-key': crypto.randomUUID() },
      });
      watch(task);
    } catch (error) {
      if (!(error.code === 'validation_error' && form.showError(error))) {
        message.textContent = describeError(error);
        message.hidden = false;
      }
    } finally {
      submit.disabled = false;
    }
  });

  function addOutputs(task) {
    for (const image of task.images || []) {
      if (outputs.some((o) => o.image_id === image.image_id)) continue;
      const entry = { ...image, task_id: task.task_id };
      outputs.unshift(entry);
      const tile = h('button', {
        class: 'tile', type: 'button', dataset: { image: image.image_id }, 'aria-label': t('Open output of “{prompt}”', { prompt: taskPrompt(task).slice(0, 60) }),
        onclick: () => openLightbox(outputs, outputs.indexOf(entry), {
          navigate,
          onDeleted: (gone) => grid.querySelector(`[data-image="${gone.image_id}"]`)?.remove(),
        }),
      }, tileContent(image, { lazy: false }));
      grid.prepend(tile);
    }
    emptyNote.hidden = outputs.length > 0;
  }

  /** A card for the task, kept current from its event stream until it ends. */
  function watch(task) {
    const chip = h('span', {});
    const bar = h('span', {});
    const progress = h('div', { class: 'progress', role: 'progressbar', 'aria-label': t('Progress'), 'aria-valuemin': 0, 'aria-valuemax': 100 }, bar);
    const note = h('div', {});
    const card = h('div', { class: 'job', dataset: { task: task.task_id } },
      h('div', { class: 'job-head' }, chip, h('span', { class: 'prompt' }, taskPrompt(task) || task.model), h('span', { class: 'muted small' }, `${task.service}/${task.model}`)),
      progress, note);
    jobs.prepend(card);
    // On a phone the form fills the screen: bring the progress into view.
    card.scrollIntoView({ block: 'nearest' });

    function update(current) {
      clear(chip).append(statusChip(current.status, STATUS_WORDS));
      card.dataset.status = current.status;
      const percent = current.status === 'completed' ? 100 : current.progress || 0;
      bar.style.width = `${percent}%`;
      progress.setAttribute('aria-valuenow', String(percent));
      clear(note);
      if (current.status === 'failed' || current.status === 'expired') {
        note.append(h('div', { class: 'error-box' }, describeTaskError(current)));
      }
      if (current.status === 'completed') addOutputs(current);
    }
    update(task);
    if (!ACTIVE.has(task.status)) return;
    const source = new EventSource(`/api/v1/tasks/${task.task_id}/events`);
    streams.add(source);
    const onEvent = (event) => {
      const current = JSON.parse(event.data);
      update(current);
      if (!ACTIVE.has(current.status)) {
        source.close();
        streams.delete(source);
      }
    };
    source.addEventListener('snapshot', onEvent);
    source.addEventListener('update', onEvent);
    source.onerror = () => {
      // The stream ended or dropped: read the task once; reconnect while it runs.
      if (source.readyState === EventSource.CLOSED) {
        streams.delete(source);
        get(`/tasks/${task.task_id}`).then((current) => {
          update(current);
          if (ACTIVE.has(current.status)) watch(current);
        }).catch(() => {});
      }
    };
  }

  main.append(h('div', { class: 'generate' }, panel,
    h('section', { 'aria-label': t('Progress and results') }, jobs, h('h2', {}, t('Results')), emptyNote, grid)));

  if (!usable.length) {
    clear(formSlot).append(h('div', { class: 'warn-box' }, t('No model can be used yet: an administrator needs to configure a provider.')));
    submit.disabled = true;
  }

  function linkPrompt(prompt) {
    promptId = prompt.id;
    clear(promptBanner).append(...tParts('For a prompt of a tree: {link}.',
      { link: h('a', { href: `#/prompts?id=${prompt.id}` }, t('back to the tree')) }));
    promptBanner.hidden = false;
  }

  const from = params.get('from');
  const fromPrompt = params.get('prompt');
  if (fromPrompt) {
    try {
      const prompt = await get(`/prompts/${fromPrompt}`);
      linkPrompt(prompt);
      const kind = { image: 'image', video: 'video', audio: 'audio' }[prompt.type];
      const suitable = usable.find((m) => m.is_default && (!kind || m.modality === kind))
        || usable.find((m) => !kind || m.modality === kind);
      chooseModel(params.get('model') || (suitable && suitable.id));
      const schema = (usable.find((m) => m.id === picker.value) || {}).input_schema || {};
      const textField = ['prompt', 'text', 'input'].find((name) => schema.properties && schema.properties[name]);
      if (textField) form.setValues({ [textField]: prompt.content });
    } catch (error) {
      toast(describeError(error), 'error');
      chooseModel(params.get('model'));
    }
  } else if (from) {
    try {
      const task = await get(`/tasks/${from}`);
      if (task.prompt_id) linkPrompt({ id: task.prompt_id });
      const id = `${task.service}/${task.model}`;
      if (!usable.some((m) => m.id === id)) toast(t('{model} is not available now; pick another model.', { model: id }), 'error');
      chooseModel(id, task.input);
      toast(t('Settings loaded from the earlier task.'), 'ok');
    } catch (error) {
      toast(describeError(error), 'error');
      chooseModel(params.get('model'));
    }
  } else {
    chooseModel(params.get('model'));
  }

  return () => {
    for (const source of streams) source.close();
  };
}
