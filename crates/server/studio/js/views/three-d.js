// 3D: a picture (a file, an upload or output id, or a web address) or a description
// becomes a 3D model through the 3D job API (POST /generate/image-to-3d and
// /generate/text-to-3d). A job's card shows the engine that runs it (and why, when
// it is the built-in fallback), each step's progress (a description is drawn as a
// picture first), then the model in the viewer with its files to download.
// `#/3d?job=<id>` shows a job; `#/3d?image=<img_…>` starts from an output.

import { del, get, post, query } from '../api.js';
import { append, clear, confirmDialog, field, h, setFieldError, statusChip, toast } from '../dom.js';
import { t } from '../i18n.js';
import { uploader } from '../uploader.js';
import { mountViewer } from '../viewer3d.js';
import { describeError, describeTaskError, humanBytes, humanTime, STATUS_WORDS } from '../words.js';

const QUALITIES = [
  { value: 'fast', label: t('Fast'), hint: t('A coarser model in a few seconds, for a first look.') },
  { value: 'balanced', label: t('Balanced'), hint: t('Good detail at a moderate wait.') },
  { value: 'high', label: t('High'), hint: t('The finest detail; it takes the longest.') },
];
const FORMATS = [
  { value: 'glb', label: 'GLB', hint: t('Shown here; for the web and most 3D apps.'), checked: true },
  { value: 'obj', label: 'OBJ', hint: t('Zipped with its material and texture.'), checked: true },
  { value: 'stl', label: 'STL', hint: t('For 3D printing; shape only, no colour.'), checked: false },
];
/** The formats a job's result lists as 3D models (the rest are previews). */
const MODEL_FORMATS = new Set(['glb', 'obj', 'stl', 'ply']);
const POLL_MS = 500;
const POLL_MAX_MS = 5000;
/** Job cards kept on the page: each may hold a WebGL context, and browsers allow few. */
const KEEP_CARDS = 3;
const RECENT = 8;
/** The 3D models' modality (issue 14's word for it). */
const MODALITY_3D = '3d';

/** Where an input picture can be seen (the studio's CSP shows only its own server's). */
function picturePreview(reference) {
  if (typeof reference !== 'string') return null;
  if (reference.startsWith('upl_')) return `/api/v1/uploads/${reference}/content`;
  if (reference.startsWith('img_')) return `/api/v1/images/${reference}/thumbnail`;
  return null;
}

function fileName(jobId, file) {
  const base = `model-${jobId.slice(-12)}`;
  return file.format === 'obj' ? `${base}.obj.zip` : `${base}.${file.format}`;
}

export async function threeDView(main, { params, models }) {
  const cards = [];
  let stopped = false;

  /* The form */
  const sourceRadios = [
    ['picture', t('From a picture')],
    ['prompt', t('From a description')],
  ].map(([value, text]) => h('label', {},
    h('input', { type: 'radio', name: 'source', value, checked: value === 'picture' }), h('span', {}, text)));
  const pictures = uploader({ multiple: false, max: 1, name: 'picture', accept: 'image/png,image/jpeg,image/webp,image/gif' });
  const reference = h('input', { type: 'text', name: 'image-ref', id: 'three-d-ref', placeholder: 'upl_…, img_…, https://…', autocomplete: 'off' });
  const pictureSection = h('div', { id: 'three-d-picture' },
    h('div', { class: 'field' }, h('div', { class: 'label' }, t('Picture')), pictures.element),
    field(t('…or an upload id, output id or web address'), reference,
      t('One object on a plain or transparent background works best.')));
  const prompt = h('textarea', { name: 'prompt', id: 'three-d-prompt', maxlength: 2000, rows: 4, placeholder: t('a small wooden chair with a woven seat') });
  const promptSection = h('div', { id: 'three-d-description', hidden: true },
    field(t('Description'), prompt, t('One object. A picture is drawn from it first, then the 3D model from the picture.')));
  const qualities = QUALITIES.map((quality) => h('label', { class: 'choice' },
    h('input', { type: 'radio', name: 'quality', value: quality.value, checked: quality.value === 'balanced' }),
    h('span', {}, h('strong', {}, quality.label), h('span', { class: 'muted small' }, quality.hint))));
  const formats = FORMATS.map((format) => h('label', { class: 'choice' },
    h('input', { type: 'checkbox', name: 'format', value: format.value, checked: format.checked }),
    h('span', {}, h('strong', {}, format.label), h('span', { class: 'muted small' }, format.hint))));
  const formatError = h('div', { class: 'error-text', hidden: true });
  const message = h('div', { class: 'error-box', role: 'alert', hidden: true });
  const submit = h('button', { class: 'btn primary block', type: 'submit', id: 'three-d-submit' }, t('Make the 3D model'));
  const form = h('form', { class: 'panel form', id: 'three-d-form', novalidate: true },
    h('h1', {}, t('3D')),
    h('p', { class: 'muted small' }, t('Make a 3D model from a picture or a description, turn it, zoom and light it here, and download it as GLB, OBJ or STL.')),
    h('fieldset', { class: 'segmented', id: 'three-d-source' }, h('legend', { class: 'sr-only' }, t('Start from')), sourceRadios),
    pictureSection, promptSection,
    h('fieldset', { class: 'choices' }, h('legend', {}, t('Quality')), qualities),
    h('fieldset', { class: 'choices', id: 'three-d-formats' }, h('legend', {}, t('Files')), formats, formatError),
    message, submit);

  function mode() {
    return form.querySelector('[name=source]:checked').value;
  }
  form.querySelector('#three-d-source').addEventListener('change', () => {
    pictureSection.hidden = mode() !== 'picture';
    promptSection.hidden = mode() !== 'prompt';
    message.hidden = true;
  });

  /** The request's body, or null when the form says what is missing. */
  function request() {
    setFieldError(reference, null);
    setFieldError(prompt, null);
    formatError.hidden = true;
    const outputFormats = formats.map((label) => label.querySelector('input')).filter((box) => box.checked).map((box) => box.value);
    let ok = true;
    if (!outputFormats.length) {
      formatError.textContent = t('Choose at least one file format.');
      formatError.hidden = false;
      ok = false;
    }
    const body = { output_formats: outputFormats, quality: form.querySelector('[name=quality]:checked').value };
    if (mode() === 'picture') {
      const [upload] = pictures.get();
      const typed = reference.value.trim();
      if (upload && typed) {
        setFieldError(reference, t('Give a file or an address, not both: remove one of them.'));
        ok = false;
      } else if (!upload && !typed) {
        setFieldError(reference, t('Choose a picture, or give an upload id, output id or web address.'));
        ok = false;
      }
      body.image_url = upload || typed;
    } else {
      if (!prompt.value.trim()) {
        setFieldError(prompt, t('Describe the object to model.'));
        ok = false;
      }
      body.prompt = prompt.value.trim();
    }
    return ok ? body : null;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    message.hidden = true;
    const body = request();
    if (!body) {
      form.querySelector('[aria-invalid=true], #three-d-formats .error-text:not([hidden])')?.scrollIntoView({ block: 'nearest' });
      return;
    }
    const fromPicture = mode() === 'picture';
    submit.disabled = true;
    try {
      const job = await post(fromPicture ? '/generate/image-to-3d' : '/generate/text-to-3d', body, {
        headers: { 'idempotency-key': crypto.randomUUID() },
      });
      showJob(job.job_id, { job, title: fromPicture ? t('From a picture') : body.prompt, picture: fromPicture ? body.image_url : null });
      loadRecent();
    } catch (error) {
      showRequestError(error);
    } finally {
      submit.disabled = false;
    }
  });

  function showRequestError(error) {
    const field = error.details && error.details.field;
    if (error.code === 'validation_error' && field === 'prompt') {
      setFieldError(prompt, error.message);
      return;
    }
    if (error.code === 'validation_error' && (field === 'image' || field === 'image_url') && mode() === 'picture') {
      setFieldError(reference, error.message);
      return;
    }
    clear(message).append(describeError(error));
    // The server says which engine is missing and why; the words above say what to do.
    if (error.code === 'engine_unavailable' && error.message) message.append(h('div', { class: 'small' }, error.message));
    message.hidden = false;
  }

  /* Jobs */
  const jobList = h('div', { id: 'three-d-jobs' });
  const recentList = h('ul', { class: 'recent-jobs', id: 'three-d-recent' });
  const recentNote = h('p', { class: 'empty', 'aria-live': 'polite' }, t('Loading…'));

  /** Shows the job `id` at the top (its card, made once), with its address in the URL. */
  function showJob(id, options = {}) {
    history.replaceState(null, '', `#/3d?job=${encodeURIComponent(id)}`);
    const existing = cards.find((card) => card.id === id);
    if (existing) {
      jobList.prepend(existing.node);
      existing.node.scrollIntoView({ block: 'nearest' });
      return;
    }
    const card = jobCard(id, options);
    cards.unshift(card);
    jobList.prepend(card.node);
    card.node.scrollIntoView({ block: 'nearest' });
    while (cards.length > KEEP_CARDS) cards.pop().remove();
  }

  function removeCard(id) {
    const index = cards.findIndex((card) => card.id === id);
    if (index >= 0) cards.splice(index, 1)[0].remove();
  }

  /** A job's card: kept current by polling its status until it ends, then its files. */
  function jobCard(id, { job, title, picture }) {
    const chip = h('span', {});
    const heading = h('span', { class: 'prompt' }, title || t('3D model'));
    const engine = h('span', { class: 'muted small', dataset: { jobEngine: '' } });
    const thumb = h('span', { class: 'job-picture' });
    const degraded = h('div', { class: 'warn-box small', dataset: { degraded: '' }, hidden: true });
    const eta = h('p', { class: 'muted small', hidden: true });
    const bar = h('span', {});
    const progress = h('div', { class: 'progress', role: 'progressbar', 'aria-label': t('Progress of the job'), 'aria-valuemin': 0, 'aria-valuemax': 100 }, bar);
    const steps = h('ol', { class: 'job-steps' });
    const note = h('div', {});
    const result = h('div', { class: 'job-result' });
    const remove = h('button', { class: 'btn small ghost', type: 'button', dataset: { action: 'delete-job' }, onclick: () => deleteJob() }, t('Delete'));
    const node = h('article', { class: 'job three-d-job', dataset: { job: id, status: 'pending' }, 'aria-label': t('3D job') },
      h('div', { class: 'job-head' }, thumb, chip, heading, engine),
      degraded, eta, progress, steps, note, result, h('div', { class: 'row job-actions' }, remove));
    let timer = 0;
    let wait = POLL_MS;
    let ended = false;
    let disposeViewer = null;

    function setPicture(reference) {
      const src = picturePreview(reference);
      append(clear(thumb), [src ? h('img', { src, alt: t('The picture it is made from') }) : null]);
    }
    setPicture(picture);

    function update(state) {
      clear(chip).append(statusChip(state.status, STATUS_WORDS));
      node.dataset.status = state.status;
      engine.textContent = state.engine || '';
      const percent = Math.round(state.progress || 0);
      bar.style.width = `${percent}%`;
      progress.setAttribute('aria-valuenow', String(percent));
      clear(steps);
      const names = state.steps.length > 1 ? [t('Picture from the description'), t('3D model')] : [t('3D model')];
      state.steps.forEach((step, index) => {
        steps.append(h('li', { dataset: { step: step.task_id, status: step.status } },
          h('span', { class: 'step-name' }, names[index] || step.model), ' ',
          statusChip(step.status, STATUS_WORDS), ' ',
          h('span', { class: 'muted small' }, `${step.model} · ${step.progress}%`)));
      });
    }

    async function poll() {
      if (stopped || ended) return;
      try {
        const state = await get(`/jobs/${id}/status`);
        wait = POLL_MS;
        update(state);
        if (state.status === 'completed' || state.status === 'failed') {
          ended = true;
          eta.hidden = true;
          if (state.status === 'failed') {
            note.append(h('div', { class: 'error-box' }, describeTaskError({ error: { code: state.error_code, message: state.error_message } })));
          } else {
            await showResult();
          }
          loadRecent();
          return;
        }
      } catch (error) {
        if (error.status === 404) {
          ended = true;
          clear(note).append(h('div', { class: 'error-box' }, t('This job no longer exists.')));
          return;
        }
        // The server did not answer: ask again, less often.
        wait = Math.min(wait * 2, POLL_MAX_MS);
      }
      if (!stopped && !ended) timer = setTimeout(poll, wait);
    }

    async function showResult() {
      let files;
      try {
        files = (await get(`/jobs/${id}/result`)).files.filter((file) => MODEL_FORMATS.has(file.format));
      } catch (error) {
        clear(result).append(h('div', { class: 'error-box' }, describeError(error)));
        return;
      }
      if (stopped || !node.isConnected) return;
      const glb = files.find((file) => file.format === 'glb');
      const stage = h('div', { class: 'job-viewer' });
      const downloads = h('div', { class: 'row downloads', role: 'group', 'aria-label': t('Downloads') },
        files.map((file) => h('a', {
          class: 'btn small', href: file.url, download: fileName(id, file), dataset: { format: file.format },
        }, t('Download {format}', { format: file.format.toUpperCase() }), h('span', { class: 'muted' }, ` · ${humanBytes(file.bytes)}`))));
      clear(result).append(glb ? stage : h('p', { class: 'muted small' }, t('Only a GLB is shown here; the files below download.')), downloads);
      if (glb) disposeViewer = mountViewer(stage, glb.url, { label: heading.textContent });
    }

    async function deleteJob() {
      const sure = await confirmDialog({
        title: t('Delete this 3D job?'), text: t('Its files are removed for good; a job still running is cancelled first.'), confirm: t('Delete'), danger: true,
      });
      if (!sure) return;
      try {
        await del(`/jobs/${id}`);
        toast(t('Deleted.'), 'ok');
        removeCard(id);
        if (new URLSearchParams(location.hash.split('?')[1] || '').get('job') === id) history.replaceState(null, '', '#/3d');
        loadRecent();
      } catch (error) {
        toast(describeError(error), 'error');
      }
    }

    if (job) {
      update({ ...job, progress: 0 });
      if (job.degraded) {
        degraded.append(h('strong', {}, t('Made by the built-in engine.')), ' ', job.degraded);
        degraded.hidden = false;
      }
      if (job.estimated_completion_time) {
        eta.textContent = t('Expected {time}.', { time: humanTime(job.estimated_completion_time) });
        eta.hidden = false;
      }
    } else {
      // Opened from the list or an address: what it was made from, from its record.
      get(`/jobs/${id}`).then((record) => {
        const input = record.input_data || {};
        heading.textContent = input.prompt || t('From a picture');
        setPicture(input.image);
      }).catch(() => {});
    }
    poll();

    return {
      id,
      node,
      remove() {
        ended = true;
        clearTimeout(timer);
        if (disposeViewer) disposeViewer();
        node.remove();
      },
    };
  }

  /* Recent jobs: the tasks of the 3D models, newest first. */
  let recentLoad = 0;
  async function loadRecent() {
    const load = ++recentLoad;
    try {
      const ids = (await models()).filter((model) => model.modality === MODALITY_3D).map((model) => model.id);
      const pages = await Promise.all(ids.map((model) => get(`/tasks${query({ model, limit: RECENT })}`)));
      if (load !== recentLoad || stopped) return;
      const tasks = pages.flatMap((page) => page.tasks)
        .sort((a, b) => (a.created_at < b.created_at ? 1 : -1)).slice(0, RECENT);
      append(clear(recentList), tasks.map(recentRow));
      recentNote.textContent = tasks.length ? '' : t('No 3D models yet.');
    } catch (error) {
      if (load === recentLoad) clear(recentNote).append(h('span', { class: 'error-box' }, describeError(error)));
    }
  }

  function recentRow(task) {
    const input = task.input || {};
    const model = (task.images || []).find((image) => image.mime_type === 'model/gltf-binary');
    const fromText = typeof input.image === 'string' && input.image.startsWith('task:');
    const title = h('span', { class: 'prompt' }, input.prompt || (fromText ? t('From a description') : t('From a picture')));
    const src = (model && model.thumbnail_url) || picturePreview(input.image);
    if (fromText) {
      // The description is the picture step's: the job's record has it.
      get(`/jobs/${task.task_id}`).then((record) => {
        if (record.input_data && record.input_data.prompt) title.textContent = record.input_data.prompt;
      }).catch(() => {});
    }
    return h('li', { class: 'recent-job', dataset: { job: task.task_id, status: task.status } },
      h('span', { class: 'recent-thumb' }, src ? h('img', { src, alt: '', loading: 'lazy' }) : h('span', { class: 'kind', 'aria-hidden': 'true' }, '3D')),
      h('span', { class: 'recent-meta' }, title,
        h('span', { class: 'row' }, statusChip(task.status, STATUS_WORDS), h('span', { class: 'muted small' }, `${task.service}/${task.model} · ${humanTime(task.created_at)}`))),
      h('button', {
        class: 'btn small', type: 'button', dataset: { action: 'show-job' }, 'aria-label': t('Show the job “{title}”', { title: title.textContent.slice(0, 60) }),
        onclick: () => showJob(task.task_id, { title: title.textContent, picture: input.image }),
      }, t('Show')));
  }

  main.append(h('div', { class: 'three-d' }, form,
    h('section', { 'aria-label': t('3D jobs') }, jobList,
      h('h2', {}, t('Recent 3D models')), recentNote, recentList)));

  const image = params.get('image');
  if (image) pictures.set([image]);
  const opened = params.get('job');
  if (opened) showJob(opened, {});
  loadRecent();

  return () => {
    stopped = true;
    for (const card of cards.splice(0)) card.remove();
  };
}
