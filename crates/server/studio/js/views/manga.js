// Manga (seed 001): a story becomes a manga in seven phases (concept and world,
// characters, plot and structure, the name, the panel images, the lettering, the
// final check and the book), a person giving feedback between them. `#/manga` starts
// a run from a story pasted or loaded from a .txt file and lists your runs;
// `#/manga?run=run_…` follows one, live on its event stream (SSE): the phases with
// the current one's progress and the wait's countdown; continue, stop, resume and
// cancel; the preview and an editor of the waiting phase's part (inline edits,
// alternatives, style, a storyboard whose panels and balloons move with the pointer or
// the keyboard, and phases 5 to 7's panel images, lettering and book, in
// manga-book.js); a change asked in words, its diff reviewed before it is applied; and
// the version tree, where any version can be branched from. `#/manga/<run>/read` is
// the book's reader (manga-reader.js).

import { get, post, query } from '../api.js';
import { append, clear, confirmDialog, field, h, setFieldError, statusChip, toast } from '../dom.js';
import { locale, t } from '../i18n.js';
import { describeError, humanTime } from '../words.js';
import { artEditor, bookEditor, drawingWords, letteringEditor, locate, showArrival } from './manga-book.js';
import { readerView } from './manga-reader.js';

/** The story's length the server asks for, until a refusal says otherwise (`[pipelines]`). */
const BOUNDS = { min: 5000, max: 50000 };

/** A run's statuses in words (the API's values stay as they are). */
const RUN_WORDS = {
  running: t('Working'),
  waiting_input: t('Waiting for you'),
  paused: t('Stopped'),
  parked: t('Parked'),
  completed: t('Done'),
  failed: t('Failed'),
  cancelled: t('Cancelled'),
};
const ENDED = new Set(['completed', 'failed', 'cancelled']);
/** The statuses in which the current version takes changes. */
const EDITABLE = new Set(['waiting_input', 'paused', 'completed']);
const PROPOSAL_ENDED = new Set(['completed', 'failed', 'cancelled', 'expired']);

/** The phases' titles by their names (the server's are English). */
const PHASE_TITLES = {
  concept: t('Concept and world'),
  characters: t('Characters'),
  plot: t('Plot and structure'),
  name: t('Name (storyboard)'),
  panels: t('Panel images'),
  lettering: t('Lettering'),
  book: t('Final check and book'),
};
const PHASE_NAMES = Object.keys(PHASE_TITLES);
/** The document's parts, the phase that writes each, and their names in the editor. */
const PARTS = [
  { key: 'concept', phase: 1, words: t('Concept') },
  { key: 'characters', phase: 2, words: t('Characters') },
  { key: 'plot', phase: 3, words: t('Plot') },
  { key: 'pages', phase: 4, words: t('Storyboard') },
  { key: 'art', phase: 5, words: t('Panel images') },
  { key: 'lettering', phase: 6, words: t('Lettering') },
  { key: 'report', phase: 7, words: t('Report and book') },
];
const KIND_WORDS = { phase: t('Phase result'), feedback: t('Your change') };

const CONCEPT_FIELDS = {
  title: t('Title'),
  theme: t('Theme'),
  genre: t('Genre'),
  target_readers: t('Target readers'),
  world: t('World'),
  tone: t('Tone'),
};
const CHARACTER_FIELDS = {
  name: t('Name'),
  role: t('Role in the story'),
  age: t('Age'),
  appearance: t('Appearance'),
  personality: t('Personality'),
  speech_style: t('Speech style'),
};
const SCENE_FIELDS = {
  title: t('Title'),
  setting: t('Setting'),
  time_of_day: t('Time of day'),
  emotion: t('Emotion'),
  summary: t('Summary'),
};
const DIRECTION_FIELDS = {
  shot: t('Shot'),
  camera_angle: t('Camera angle'),
  background: t('Background'),
  expressions: t('Expressions'),
  poses: t('Poses'),
  lighting: t('Lighting'),
  effect_lines: t('Effect lines'),
  mood: t('Mood'),
};
const LONG_TEXT = new Set(['theme', 'world', 'appearance', 'personality', 'speech_style', 'summary']);

const REFUSALS = {
  unknown_element: t('That part is not in this version any more.'),
  outside_page: t('That would go off the page.'),
  invalid_document: t('That change would leave the manga invalid.'),
  not_an_alternative: t('That is not one of the alternatives offered.'),
  invalid_change: t('That change cannot be made.'),
};
const OPERATIONS = { add: t('Add'), remove: t('Remove'), replace: t('Change'), move: t('Move'), copy: t('Copy') };

/** Moves with the keyboard: one step is 1 % of the page; a panel is never smaller than 5 %. */
const STEP = 0.01;
const SMALLEST = 0.05;
const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

const numbers = new Intl.NumberFormat(locale);

function phaseTitle(phase) {
  if (!phase) return '';
  return PHASE_TITLES[phase.name] || phase.title || '';
}

function percent(fraction) {
  return `${Math.round(fraction * 100)}%`;
}

function clamp(value, low, high) {
  return Math.min(Math.max(value, low), high);
}

function round4(value) {
  return Math.round(value * 10000) / 10000;
}

function text(value) {
  return value === null || value === undefined ? '' : String(value);
}

/** A sentence for a refused change (422 with `details.reason`, 409 while at work). */
function refusal(error) {
  const reason = error.details && error.details.reason;
  if (error.status === 422 && REFUSALS[reason]) return t('{sentence} ({detail})', { sentence: REFUSALS[reason], detail: error.message });
  if (error.code === 'run_state' || error.code === 'run_busy') return t('The run is at work on a phase: change it at the next wait.');
  if (error.code === 'stale_proposal') return t('The manga changed since this proposal was made: ask again.');
  if (error.code === 'proposal_not_ready') return t('The proposal has no answer yet.');
  return describeError(error);
}

export async function mangaView(main, context) {
  const [inPath, action] = context.path || [];
  if (inPath && action === 'read') return readerView(main, inPath, context);
  const id = context.params.get('run') || inPath;
  if (id) return runView(main, id);
  return startView(main, context);
}

/* Start a run, and the list of runs */

async function startView(main, { navigate, models }) {
  const all = await models();
  const bounds = { ...BOUNDS };
  const story = h('textarea', { id: 'manga-text', name: 'text', rows: 12, spellcheck: 'false' });
  const count = h('span', { id: 'manga-count' });
  const file = h('input', { type: 'file', id: 'manga-file', name: 'file', accept: '.txt,text/plain' });
  const feedback = h('input', { type: 'checkbox', id: 'manga-feedback', name: 'feedback', checked: true });
  const wait = h('input', {
    type: 'number', id: 'manga-wait', name: 'timeout_seconds', min: 1, max: 86400, step: 1, inputmode: 'numeric', required: true, value: '30',
  });
  const modelPicker = (modality, id, fallback) => {
    const usable = all.filter((model) => model.usable && model.modality === modality);
    return h('select', { id, name: id }, usable.map((model) => h('option', { value: model.id, selected: model.id === fallback }, `${model.title} (${model.id})`)));
  };
  const limit = h('input', {
    type: 'number', id: 'manga-deadline', name: 'deadline_seconds', min: 1, max: 86400, step: 1, inputmode: 'numeric', placeholder: t('automatic'),
  });
  const textModel = modelPicker('text', 'manga-text-model', 'local/planner');
  const imageModel = modelPicker('image', 'manga-image-model', 'local/placeholder');
  const lastPhase = h('select', { id: 'manga-last-phase', name: 'last_phase' },
    h('option', { value: '' }, t('All seven phases, to the book')),
    PHASE_NAMES.slice(0, 6).map((name, index) => h('option', { value: String(index + 1) },
      t('Stop after phase {n}: {title}', { n: index + 1, title: PHASE_TITLES[name] }))));
  // The book's options (`options`): empty means the server chooses from the story.
  const direction = h('select', { id: 'manga-direction', name: 'reading_direction' },
    h('option', { value: '' }, t('From the story\'s language')),
    h('option', { value: 'rtl' }, t('Right to left')), h('option', { value: 'ltr' }, t('Left to right')));
  const vertical = h('select', { id: 'manga-vertical', name: 'vertical_text' },
    h('option', { value: '' }, t('From the story\'s language')),
    h('option', { value: 'true' }, t('Vertical')), h('option', { value: 'false' }, t('Horizontal')));
  const parallel = h('input', {
    type: 'number', id: 'manga-parallel', name: 'max_parallel', min: 1, max: 10, step: 1, inputmode: 'numeric', placeholder: t('automatic'),
  });
  const message = h('div', { class: 'error-box', id: 'manga-start-error', role: 'alert', hidden: true });
  const submit = h('button', { class: 'btn primary', type: 'submit', id: 'manga-start' }, t('Start'));

  function countStory() {
    const n = [...story.value].length;
    count.textContent = t('{n} characters; a story needs {min} to {max}.',
      { n: numbers.format(n), min: numbers.format(bounds.min), max: numbers.format(bounds.max) });
    count.classList.toggle('count-out', n > 0 && (n < bounds.min || n > bounds.max));
    count.dataset.count = String(n);
  }
  story.addEventListener('input', countStory);
  countStory();

  file.addEventListener('change', async () => {
    const chosen = file.files && file.files[0];
    setFieldError(file, null);
    if (!chosen) return;
    if (chosen.size > 1024 * 1024) {
      setFieldError(file, t('{name} is too large for a story.', { name: chosen.name }));
      return;
    }
    try {
      const decoded = new TextDecoder('utf-8', { fatal: true }).decode(await chosen.arrayBuffer());
      story.value = decoded.replace(/\r\n?/g, '\n');
      countStory();
      toast(t('Loaded {name}.', { name: chosen.name }), 'ok');
    } catch {
      setFieldError(file, t('{name} is not UTF-8 text.', { name: chosen.name }));
    }
  });
  const syncWait = () => {
    wait.disabled = !feedback.checked;
  };
  feedback.addEventListener('change', syncWait);

  const form = h('form', { class: 'panel', id: 'manga-start-form', novalidate: true },
    h('h2', {}, t('A new manga')),
    field(t('Your story'), story, count),
    field(t('Or load a .txt file'), file, t('UTF-8 text, up to 1 MiB.')),
    h('div', { class: 'field' }, h('label', { class: 'row', for: 'manga-feedback' }, feedback, t('Wait for my feedback after each phase'))),
    field(t('Wait for feedback (seconds)'), wait, t('Then the run goes on by itself.')),
    h('details', { class: 'advanced' }, h('summary', {}, t('More settings')),
      field(t('Text model'), textModel),
      field(t('Image model (character sheets and panels)'), imageModel),
      field(t('Phases'), lastPhase),
      h('div', { class: 'fields-2' },
        field(t('Reading direction'), direction),
        field(t('Balloon text'), vertical)),
      field(t('Panels drawn at once'), parallel, t('1 to 10.')),
      field(t('Time limit (seconds)'), limit,
        t('The whole run, its waits for feedback included, must end within it. Empty: 10 minutes plus the waits.'))),
    message,
    submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    message.hidden = true;
    setFieldError(story, null);
    setFieldError(wait, null);
    setFieldError(limit, null);
    setFieldError(parallel, null);
    for (const input of [wait, limit]) {
      if (!input.disabled && !input.checkValidity()) {
        setFieldError(input, t('1 to 86,400 seconds.'));
        input.focus();
        return;
      }
    }
    if (!parallel.checkValidity()) {
      setFieldError(parallel, t('1 to 10.'));
      parallel.focus();
      return;
    }
    const seconds = Number(wait.value) || 30;
    const body = { text: story.value, feedback_mode: { enabled: feedback.checked, timeout_seconds: seconds } };
    // The time limit counts time at work only (a wait for feedback holds the clock):
    // the server's default unless one is given.
    if (limit.value) body.deadline_seconds = Number(limit.value);
    if (textModel.value) body.text_model = textModel.value;
    if (imageModel.value) body.image_model = imageModel.value;
    if (lastPhase.value) body.last_phase = Number(lastPhase.value);
    const options = {};
    if (direction.value) options.reading_direction = direction.value;
    if (vertical.value) options.vertical_text = vertical.value === 'true';
    if (parallel.value) options.max_parallel = Number(parallel.value);
    if (Object.keys(options).length) body.options = options;
    submit.disabled = true;
    try {
      const run = await post('/pipelines', body);
      navigate('manga', { run: run.id });
    } catch (error) {
      const details = error.details || {};
      let sentence = describeError(error);
      if (error.code === 'validation_error' && details.field === 'text' && Number.isFinite(details.characters)) {
        if (Number.isFinite(details.min)) bounds.min = details.min;
        if (Number.isFinite(details.max)) bounds.max = details.max;
        countStory();
        sentence = t('The story has {n} characters; a story of {min} to {max} characters is needed.',
          { n: numbers.format(details.characters), min: numbers.format(bounds.min), max: numbers.format(bounds.max) });
        story.setAttribute('aria-invalid', 'true');
        story.closest('.field').classList.add('invalid');
      } else if (details.field === 'feedback_mode.timeout_seconds') {
        setFieldError(wait, sentence);
      } else if (details.field === 'deadline_seconds') {
        setFieldError(limit, sentence);
      } else if (String(details.field || '').startsWith('options')) {
        setFieldError(parallel, sentence);
      }
      message.textContent = sentence;
      message.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });

  const list = h('div', { id: 'manga-runs' });
  const more = h('button', { class: 'btn', type: 'button', hidden: true }, t('Show more'));
  let cursor = null;
  async function load() {
    try {
      const page = await get(`/pipelines${query({ cursor, limit: 20 })}`);
      for (const run of page.runs) list.append(runCard(run));
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      if (!list.childElementCount) list.append(h('p', { class: 'empty' }, t('No runs yet.')));
    } catch (error) {
      list.append(h('div', { class: 'error-box' }, describeError(error)));
    }
  }
  more.addEventListener('click', load);

  main.append(h('h1', {}, t('Manga')),
    h('p', { class: 'muted' }, t('A story of {min} to {max} characters becomes a manga in seven phases: concept and world, characters, plot, the name (storyboard), the panel images, the lettering, and the final check with the book (PDF and CBZ). After each phase you can change the result before the next one starts.',
      { min: numbers.format(BOUNDS.min), max: numbers.format(BOUNDS.max) })),
    h('div', { class: 'manga-start' }, form,
      h('section', { 'aria-labelledby': 'manga-runs-title' }, h('h2', { id: 'manga-runs-title' }, t('Your runs')), list, more)));
  syncWait();
  await load();
}

function runCard(run) {
  const phase = run.phases[run.phase - 1];
  return h('a', { class: 'panel run-card', href: `#/manga?run=${run.id}`, dataset: { run: run.id, status: run.status } },
    h('div', { class: 'row' }, statusChip(run.status, RUN_WORDS), h('span', { class: 'muted small' }, humanTime(run.created_at))),
    h('div', {}, t('Phase {n} of {total}: {title}', { n: run.phase, total: run.phases.length, title: phaseTitle(phase) })),
    h('div', { class: 'muted small' }, t('{n} characters', { n: numbers.format(run.text_chars) })));
}

/* One run */

async function runView(main, id) {
  let run = null;
  let head = null;
  let tree = null;
  let stopped = false;
  let source = null;
  /** The editor's state kept across redraws: the part shown, the storyboard's page, the selected panel or balloon. */
  let part = null;
  let partPhase = null;
  let pageIndex = 0;
  let selected = null;
  /** The current phase's steps done so far, from its progress events ({phase, completed, total}). */
  let steps = null;
  /** Panel images that arrived while phase 5 draws, by panel id (progress events that name them). */
  const arrivals = new Map();
  const versions = new Map();

  const title = h('h1', { class: 'grow', id: 'manga-title' }, t('Manga run'));
  const readLink = h('a', { class: 'btn primary', id: 'manga-read', href: `#/manga/${encodeURIComponent(id)}/read`, hidden: true }, t('Read'));
  const statusText = h('p', { class: 'run-status', id: 'run-status', role: 'status', tabindex: '-1' });
  const statusBody = h('div', {});
  const previewBody = h('div', {});
  const editorBody = h('div', { id: 'manga-edit' });
  const treeBody = h('div', { id: 'version-tree' });
  const previewTitle = h('h2', { id: 'manga-preview-title' }, t('Preview'));
  const editorTitle = h('h2', { id: 'manga-editor-title' }, t('Edit'));

  const wordsText = h('textarea', { id: 'proposal-text', name: 'proposal', rows: 2, maxlength: 2000 });
  const wordsSend = h('button', { class: 'btn primary', type: 'submit', id: 'proposal-send' }, t('Propose'));
  const wordsStatus = h('p', { class: 'muted small', id: 'proposal-status', role: 'status' });
  const wordsResult = h('div', {});
  const wordsForm = h('form', { class: 'panel', id: 'proposal-form', 'aria-labelledby': 'proposal-title' },
    h('h2', { id: 'proposal-title' }, t('Ask for a change in words')),
    field(t('Your request'), wordsText,
      t('The built-in planner understands: rename A to B, genre: X, title: X, tone: X, page N: K panels, split page N, make A older or younger. Separate requests with ;')),
    h('div', { class: 'row' }, wordsSend), wordsStatus, wordsResult);

  main.append(
    h('div', { class: 'row' }, title, readLink, h('a', { class: 'btn', href: '#/manga' }, t('All runs'))),
    h('section', { class: 'panel', id: 'run-panel', 'aria-label': t('Phases and status') }, statusText, statusBody),
    h('div', { class: 'manga-work' },
      h('section', { class: 'panel', id: 'manga-preview', 'aria-labelledby': 'manga-preview-title' }, previewTitle, previewBody),
      h('section', { class: 'panel', id: 'manga-editor', 'aria-labelledby': 'manga-editor-title' }, editorTitle, editorBody)),
    wordsForm,
    h('section', { class: 'panel', id: 'manga-versions', 'aria-labelledby': 'versions-title' }, h('h2', { id: 'versions-title' }, t('Versions')), treeBody));

  /* The page shows what it read last with GET, one read at a time: the events and
     the actions' answers only ask for a read. (An answer or an event can arrive after
     a newer state was shown, and a run carries no revision to order them by.) */
  let chain = Promise.resolve();
  function serial(task) {
    const next = chain.then(task, task);
    chain = next.catch(() => {});
    return next;
  }
  let refreshQueued = false;
  function refresh() {
    if (refreshQueued) return chain;
    refreshQueued = true;
    return serial(async () => {
      refreshQueued = false;
      if (stopped) return;
      try {
        await show(await get(`/pipelines/${id}`));
      } catch (error) {
        toast(describeError(error), 'error');
      }
    });
  }
  /** After an action: keeps the version it made, and reads the run again. */
  function adopt(version) {
    if (version) versions.set(version.id, version);
    return refresh();
  }

  async function version(versionId) {
    if (!versions.has(versionId)) versions.set(versionId, await get(`/pipelines/${id}/versions/${versionId}`));
    return versions.get(versionId);
  }

  async function show(next) {
    const before = run;
    run = next;
    const headChanged = !before || before.head_version_id !== run.head_version_id;
    if (headChanged) {
      head = run.head_version_id ? await version(run.head_version_id) : null;
      tree = await get(`/pipelines/${id}/versions`);
    }
    renderStatus(before);
    if (headChanged) renderPreview();
    if (headChanged || before.status !== run.status) {
      renderEditor();
      renderTree();
      wordsSend.disabled = !EDITABLE.has(run.status) || !head;
    }
    watch();
  }

  /* The event stream: a snapshot, then the run's events; each sends the page to read
     the run again (progress is shown as it comes). Closed once the run has ended; a
     branch opens it again. */
  function watch() {
    if (stopped || ENDED.has(run.status)) {
      if (source) source.close();
      source = null;
      return;
    }
    if (source) return;
    const stream = new EventSource(`/api/v1/pipelines/${id}/events`);
    source = stream;
    for (const name of ['snapshot', 'phase_started', 'phase_complete', 'waiting_input', 'preview_change', 'branch', 'status']) {
      stream.addEventListener(name, refresh);
    }
    stream.addEventListener('progress', (event) => {
      const data = JSON.parse(event.data);
      if (run && data.phase === run.phase && run.status === 'running') {
        run.progress = data.progress;
        if (Number.isFinite(data.total) && data.total > 0) steps = { phase: data.phase, completed: data.completed, total: data.total };
        const bar = statusBody.querySelector('[data-phase-progress]');
        if (bar) {
          bar.setAttribute('aria-valuenow', String(data.progress));
          bar.firstElementChild.style.width = `${data.progress}%`;
        }
        const count = statusBody.querySelector('[data-phase-steps]');
        if (count && steps) count.textContent = stepWords();
        const drawing = editorBody.querySelector('[data-art-progress=drawing]');
        if (drawing && data.phase === 5) drawing.textContent = drawingWords(steps);
        // Progress events name the panels drawn so far with their images: each shows at once.
        if (data.phase === 5 && Array.isArray(data.drawn)) {
          for (const item of data.drawn) {
            if (typeof item.element !== 'string' || typeof item.asset_id !== 'string' || arrivals.has(item.element)) continue;
            const entry = { id: item.element, asset_id: item.asset_id, width: item.width, height: item.height };
            arrivals.set(item.element, entry);
            showArrival(editorBody, entry);
          }
        }
      } else {
        refresh();
      }
    });
    // A phase's error (retried, or the end of the run): read the run again.
    stream.addEventListener('phase_error', () => refresh());
    // A dropped connection (EventSource's own `error`).
    stream.addEventListener('error', () => {
      if (stream.readyState === EventSource.CLOSED) {
        if (source === stream) source = null;
        refresh();
      }
    });
  }

  /* The phases, the status and the controls */

  function statusSentence() {
    const phase = run.phases[run.phase - 1];
    const words = { n: run.phase, title: phaseTitle(phase) };
    switch (run.status) {
      case 'running': return t('Phase {n} ({title}) is at work.', words);
      case 'waiting_input': return t('Phase {n} ({title}) is done and waits for your feedback.', words);
      case 'paused': return t('Stopped after phase {n} ({title}): it waits until you resume.', words);
      case 'parked': return run.resumes_at
        ? t('Parked: the provider cannot take more work now; it goes on by itself {when}.', { when: humanTime(run.resumes_at) })
        : t('Parked: the provider cannot take more work now.');
      case 'completed': return t('Done: the last phase, {n} ({title}), is finished.', words);
      case 'failed': return t('Failed at phase {n} ({title}).', words);
      case 'cancelled': return t('Cancelled at phase {n} ({title}).', words);
      default: return run.status;
    }
  }

  function countdown() {
    const left = Math.max(0, Math.round((Date.parse(run.waiting_until) - Date.now()) / 1000));
    const hours = Math.floor(left / 3600);
    const minutes = Math.floor((left % 3600) / 60);
    const seconds = String(left % 60).padStart(2, '0');
    const clock = hours ? `${hours}:${String(minutes).padStart(2, '0')}:${seconds}` : `${minutes}:${seconds}`;
    return t('Goes on by itself in {time}', { time: clock });
  }

  function stepWords() {
    return t('{done} of {total} done', { done: steps.completed, total: steps.total });
  }

  function phaseState(phase) {
    if (phase.state === 'done') return t('Done');
    if (phase.state === 'pending') {
      const last = run.settings && run.settings.last_phase;
      return last && phase.number > last ? t('Not in this run') : t('Not started');
    }
    return {
      running: t('At work'), waiting_input: t('Waiting for your feedback'), paused: t('Stopped here'), parked: t('Parked'),
      failed: t('Failed'), cancelled: t('Cancelled'), completed: t('Done'),
    }[run.status] || run.status;
  }

  function renderStatus(before) {
    const sentence = statusSentence();
    if (statusText.textContent !== sentence) statusText.textContent = sentence;
    statusText.dataset.status = run.status;
    statusText.dataset.phase = String(run.phase);
    const concept = head && head.document && head.document.concept;
    title.textContent = (concept && concept.title) || t('Manga run');
    document.title = `${title.textContent} · Atelier`;
    readLink.hidden = !(head && head.document && head.document.book);
    if (!(run.status === 'running' && steps && steps.phase === run.phase)) steps = null;
    if (!(run.status === 'running' && run.phase === 5)) arrivals.clear();
    const focused = statusBody.contains(document.activeElement) ? document.activeElement.dataset.key : null;

    const phases = h('ol', { class: 'phases', 'aria-label': t('Phases') }, run.phases.map((phase) => {
      const current = phase.state === 'current';
      let extra = null;
      if (current && run.status === 'running') {
        const bar = h('span', {});
        bar.style.width = `${run.progress || 0}%`;
        extra = h('div', {
          class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': run.progress || 0,
          'aria-label': t('Progress of phase {n}', { n: phase.number }), dataset: { phaseProgress: String(phase.number) },
        }, bar);
        extra = [extra, h('div', { class: 'small muted', dataset: { phaseSteps: String(phase.number) } }, steps ? stepWords() : '')];
      } else if (current && run.status === 'waiting_input' && run.waiting_until) {
        extra = h('div', { class: 'countdown small', role: 'timer', id: 'run-countdown' }, countdown());
      }
      return h('li', { dataset: { phase: String(phase.number), state: phase.state }, 'aria-current': current ? 'step' : null },
        h('div', { class: 'phase-title' }, t('Phase {n}: {title}', { n: phase.number, title: phaseTitle(phase) })),
        h('div', { class: 'phase-state' }, phaseState(phase)), extra);
    }));

    const actions = h('div', { class: 'row run-actions' });
    const button = (action, words, primary) => h('button', {
      class: `btn${primary ? ' primary' : ''}`, type: 'button', dataset: { action, key: `action:${action}` }, onclick: () => control(action),
    }, words);
    if (run.status === 'waiting_input') actions.append(button('continue', t('Continue now'), true), button('stop', t('Stop here')));
    if (run.status === 'paused') actions.append(button('resume', t('Resume'), true));
    if (!ENDED.has(run.status)) actions.append(button('cancel', t('Cancel the run')));

    const facts = [statusChip(run.status, RUN_WORDS)];
    if (['running', 'waiting_input', 'parked'].includes(run.status)) {
      facts.push(h('span', { class: 'muted small' }, t('Time limit {when}.', { when: humanTime(run.deadline_at) })));
    }
    facts.push(h('span', { class: 'muted small' }, t('{n} characters', { n: numbers.format(run.text_chars) })));
    append(clear(statusBody), [phases,
      h('div', { class: 'row' }, facts),
      run.note ? h('p', { class: 'muted small run-note' }, run.note) : null,
      run.error ? h('div', { class: 'error-box', role: before && !before.error ? 'alert' : null },
        t('Phase {n}: {message}', { n: run.error.phase, message: run.error.message }), ` (${run.error.code})`) : null,
      actions]);
    if (focused) (statusBody.querySelector(`[data-key="${focused}"]`) || statusText).focus();
  }

  async function control(action) {
    if (action === 'cancel') {
      const sure = await confirmDialog({
        title: t('Cancel this run?'), text: t('Its versions stay readable, but it cannot go on.'), confirm: t('Cancel the run'), danger: true,
      });
      if (!sure) return;
    }
    try {
      await post(`/pipelines/${id}/${action}`);
      await adopt();
    } catch (error) {
      toast(refusal(error), 'error');
      refresh();
    }
  }

  /* The preview */

  // The preview is the server's SVG drawn inline: as an <img> it could not show the
  // character sheets it links to. Only drawing elements are kept (no scripts, no
  // handlers, no links out of the server).
  const previews = new Map();
  const DRAWING = new Set(['svg', 'g', 'title', 'desc', 'rect', 'circle', 'ellipse', 'line', 'polyline', 'polygon', 'path', 'text', 'tspan', 'image', 'defs', 'clippath', 'lineargradient', 'stop', 'pattern', 'use']);

  function safeSvg(source) {
    const parsed = new DOMParser().parseFromString(source, 'image/svg+xml').documentElement;
    if (!parsed || parsed.localName !== 'svg' || parsed.getElementsByTagName('parsererror').length) return null;
    for (const node of [parsed, ...parsed.querySelectorAll('*')]) {
      if (!DRAWING.has(node.localName.toLowerCase())) {
        node.remove();
        continue;
      }
      for (const attribute of [...node.attributes]) {
        const name = attribute.name.toLowerCase();
        const local = name.includes(':') ? name.split(':')[1] : name;
        if (name.startsWith('on') || name === 'style' || (local === 'href' && !/^(\/api\/v1\/|#)/.test(attribute.value))) node.removeAttribute(attribute.name);
      }
    }
    return document.importNode(parsed, true);
  }

  async function renderPreview() {
    clear(previewBody);
    if (!head) {
      previewTitle.textContent = t('Preview');
      previewBody.append(h('p', { class: 'empty' }, t('The first phase is at work; its preview appears here.')));
      return;
    }
    const shown = head;
    const words = t('Preview of phase {n}: {title}', { n: shown.phase, title: phaseTitle(run.phases[shown.phase - 1]) });
    previewTitle.textContent = words;
    const frame = h('div', { class: 'preview-frame', tabindex: 0, role: 'region', 'aria-label': words, id: 'manga-preview-frame', dataset: { version: shown.id } },
      h('p', { class: 'muted small' }, t('Loading…')));
    previewBody.append(frame,
      h('p', { class: 'small' }, h('a', { href: shown.preview_url, target: '_blank', rel: 'noopener' }, t('Open the preview in a new tab'))));
    try {
      if (!previews.has(shown.id)) {
        const response = await fetch(shown.preview_url, { credentials: 'same-origin', headers: { accept: 'image/svg+xml' } });
        if (!response.ok) throw new Error(String(response.status));
        previews.set(shown.id, await response.text());
      }
      if (head !== shown) return;
      const drawing = safeSvg(previews.get(shown.id));
      if (!drawing) throw new Error('not an SVG');
      drawing.setAttribute('role', 'img');
      drawing.setAttribute('aria-label', words);
      clear(frame).append(drawing);
    } catch {
      if (head === shown) clear(frame).append(h('img', { src: shown.preview_url, alt: words }));
    }
  }

  /* The editor: the current version's parts, changed one element at a time */

  // Redrawing the editor (after each change, or as the run moves) keeps the focused
  // control, the open scenes, and text typed but not sent yet.
  function remember(holder) {
    const typed = [...holder.querySelectorAll('[data-saved]')].filter((input) => input.value !== input.dataset.saved)
      .map((input) => ({ key: input.dataset.key, saved: input.dataset.saved, value: input.value }));
    const open = [...holder.querySelectorAll('details[open][data-key]')].map((details) => details.dataset.key);
    const active = document.activeElement;
    const focus = active && holder.contains(active) && active.dataset.key ? active.dataset.key : null;
    return { typed, open, focus };
  }

  function restore(holder, { typed, open, focus }) {
    const find = (key) => holder.querySelector(`[data-key="${CSS.escape(key)}"]`);
    for (const key of open) {
      const details = find(key);
      if (details) details.open = true;
    }
    for (const { key, saved, value } of typed) {
      const input = find(key);
      // Only where the version still says what it said: else the new value wins.
      if (input && input.dataset.saved === saved) input.value = value;
    }
    if (focus) find(focus)?.focus({ preventScroll: true });
  }

  /** A change to the current version: a new version, or the refusal in words. */
  async function change(body, control, done) {
    if (control) setFieldError(control, null);
    try {
      const result = await post(`/pipelines/${id}/feedback`, body);
      toast(done || t('Saved as a new version.'), 'ok');
      await adopt(result.version);
      return true;
    } catch (error) {
      const sentence = refusal(error);
      if (control && control.isConnected && control.closest('.field')) setFieldError(control, sentence);
      else toast(sentence, 'error');
      return false;
    }
  }

  /** An input (or text area, or select) editing one value: `text_edit` when it changes. */
  function editField(elementId, label, value, { long = false, number = false, options = null } = {}) {
    let control;
    if (options) {
      control = h('select', { name: elementId }, options.map(([choice, words]) => h('option', { value: choice }, words)));
    } else if (long) {
      control = h('textarea', { name: elementId, rows: 2 });
    } else {
      control = h('input', { type: number ? 'number' : 'text', name: elementId, min: number ? 1 : null, step: number ? 1 : null });
    }
    control.value = text(value);
    Object.assign(control.dataset, { element: elementId, key: elementId, saved: text(value) });
    control.addEventListener('change', async () => {
      const typed = control.value;
      if (typed === control.dataset.saved || typed === control.dataset.sending) return;
      let newValue = typed;
      if (number) {
        newValue = Number(typed);
        if (!Number.isInteger(newValue) || newValue < 1) {
          setFieldError(control, t('A whole number, 1 or more.'));
          return;
        }
      }
      control.dataset.sending = typed;
      await change({ change_type: 'text_edit', element_id: elementId, change_data: { new_value: newValue } }, control);
      delete control.dataset.sending;
    });
    return field(label, control);
  }

  function editNote() {
    if (EDITABLE.has(run.status)) return null;
    if (run.status === 'cancelled') return h('p', { class: 'warn-box' }, t('This run was cancelled: its versions can be read, not changed.'));
    if (run.status === 'failed') return h('p', { class: 'warn-box' }, t('This run failed: branch from a version below to go on from it.'));
    return h('p', { class: 'warn-box' }, t('The run is at work: changes open again at the next wait.'));
  }

  function renderEditor() {
    const state = remember(editorBody);
    clear(editorBody);
    if (!head) {
      editorTitle.textContent = t('Edit');
      editorBody.append(h('p', { class: 'empty' }, t('Nothing to edit until the first phase is done.')));
      return;
    }
    const doc = head.document || {};
    // While phase 5 draws the first images, its part shows the panels waiting for theirs.
    const drawing = run.status === 'running' && run.phase === 5 && doc.pages !== undefined;
    const available = PARTS.filter((candidate) => doc[candidate.key] !== undefined || (candidate.key === 'art' && drawing));
    const focusPhase = drawing ? 5 : head.phase;
    if (partPhase !== focusPhase || !available.some((candidate) => candidate.key === part)) {
      partPhase = focusPhase;
      part = (PARTS.find((candidate) => candidate.phase === focusPhase && available.includes(candidate)) || available[available.length - 1] || PARTS[0]).key;
    }
    const editable = EDITABLE.has(run.status);
    const current = PARTS.find((candidate) => candidate.key === part);
    // Which version the editor shows, and whether it takes changes now.
    editorBody.dataset.version = head.id;
    editorBody.dataset.editable = String(editable);
    editorTitle.textContent = t('Edit: {part}', { part: current.words });
    const switcher = available.length > 1 ? h('div', { class: 'presets part-switch', role: 'group', 'aria-label': t('Part to edit') },
      available.map((candidate) => h('button', {
        class: 'btn small', type: 'button', 'aria-pressed': candidate.key === part ? 'true' : 'false', dataset: { part: candidate.key, key: `part:${candidate.key}` },
        onclick: () => {
          part = candidate.key;
          renderEditor();
        },
      }, candidate.words))) : null;
    let body;
    if (part === 'concept') body = conceptEditor(doc.concept || {});
    else if (part === 'characters') body = charactersEditor(doc.characters || []);
    else if (part === 'plot') body = plotEditor(doc.plot || {}, doc);
    else if (part === 'art') body = artEditor(bookContext(doc, editable));
    else if (part === 'lettering') body = letteringEditor(bookContext(doc, editable));
    else if (part === 'report') body = bookEditor(bookContext(doc, editable));
    else body = storyboardEditor(doc, editable);
    append(editorBody, [editNote(), switcher,
      h('fieldset', { class: 'editor-fields', disabled: !editable, dataset: { part } }, h('legend', { class: 'sr-only' }, current.words), body),
      styleForm(doc.style || {}, editable)]);
    restore(editorBody, state);
  }

  /** What the editors of phases 5 to 7 (manga-book.js) are given. */
  function bookContext(doc, editable) {
    const state = {};
    Object.defineProperties(state, {
      pageIndex: { get: () => pageIndex, set: (value) => { pageIndex = value; }, enumerable: true },
      selected: { get: () => selected, set: (value) => { selected = value; }, enumerable: true },
    });
    return {
      doc, run, editable, state, change, editField, versionId: head.id,
      rerender: renderEditor,
      progress: (phase) => (steps && steps.phase === phase ? steps : null),
      arrived: (panelId) => arrivals.get(panelId) || null,
      speakerName: (speaker) => speakerName(doc, speaker),
      focusElement,
    };
  }

  /** Shows and focuses the element an `element_id` names (from the quality report). */
  function focusElement(elementId) {
    const doc = (head && head.document) || {};
    const where = locate(doc, elementId);
    if (!where.part) {
      const style = editorBody.querySelector('#style-form input, #style-form select');
      style?.scrollIntoView({ block: 'center' });
      style?.focus({ preventScroll: true });
      return;
    }
    part = where.part;
    if (where.pageIndex !== null) pageIndex = where.pageIndex;
    selected = where.selected;
    renderEditor();
    const target = (selected && editorBody.querySelector(`[data-key="${CSS.escape(selected)}"]`))
      || editorBody.querySelector('.book-page, #storyboard');
    if (target) {
      target.scrollIntoView({ block: 'center' });
      target.focus({ preventScroll: true });
    }
  }

  function conceptEditor(concept) {
    const fields = Object.entries(CONCEPT_FIELDS).filter(([key]) => key in concept)
      .map(([key, label]) => editField(`concept.${key}`, label, concept[key], { long: LONG_TEXT.has(key) }));
    if ('page_count' in concept) fields.push(editField('concept.page_count', t('Page count'), concept.page_count, { number: true }));
    if ('reading_direction' in concept) {
      fields.push(editField('concept.reading_direction', t('Reading direction'), concept.reading_direction,
        { options: [['rtl', t('Right to left')], ['ltr', t('Left to right')]] }));
    }
    const choices = Object.entries(concept.alternatives || {}).filter(([key, list]) => Array.isArray(list) && list.length && key in concept)
      .map(([key, list]) => {
        const labelId = `alternatives-${key}`;
        return h('div', { class: 'field alternatives', role: 'group', 'aria-labelledby': labelId, dataset: { alternatives: key } },
          h('div', { class: 'label', id: labelId }, t('Alternatives: {field}', { field: CONCEPT_FIELDS[key] || key })),
          h('div', { class: 'presets' }, list.map((choice, index) => h('button', {
            class: 'btn small', type: 'button', 'aria-pressed': JSON.stringify(choice) === JSON.stringify(concept[key]) ? 'true' : 'false',
            dataset: { choice: key, index: String(index), key: `choice:${key}:${index}` },
            onclick: () => change({ change_type: 'selection', element_id: `concept.${key}`, change_data: { index } }),
          }, typeof choice === 'string' ? choice : JSON.stringify(choice)))));
      });
    const scenes = Array.isArray(concept.key_scenes) && concept.key_scenes.length
      ? h('div', { class: 'field' }, h('div', { class: 'label' }, t('Key scenes')), h('ul', { class: 'small key-scenes' }, concept.key_scenes.map((scene) => h('li', {}, scene))))
      : null;
    return h('div', { class: 'concept-editor' }, choices, h('div', { class: 'fields-2' }, fields), scenes);
  }

  function charactersEditor(characters) {
    return h('div', { class: 'character-cards' }, characters.map((character, index) => {
      const sheet = (character.sheets || [])[0];
      const fields = Object.entries(CHARACTER_FIELDS).filter(([key]) => key in character)
        .map(([key, label]) => editField(`characters.${index}.${key}`, label, character[key], { long: LONG_TEXT.has(key) }));
      return h('section', { class: 'character-card', dataset: { character: character.id || String(index) }, 'aria-label': character.name },
        h('div', {}, sheet
          ? h('img', { class: 'sheet', src: `/api/v1/assets/${encodeURIComponent(sheet.asset_id)}/thumbnail`, alt: t('Reference sheet of {name}', { name: character.name }) })
          : h('div', { class: 'sheet none small muted' }, t('No sheet'))),
        h('div', { class: 'grow' }, h('h3', {}, character.name, ' ', character.id ? h('span', { class: 'muted small' }, character.id) : null), fields));
    }));
  }

  function speakerName(doc, speaker) {
    if (!speaker) return t('Narration');
    const found = (doc.characters || []).find((character) => character.id === speaker);
    return found ? found.name : speaker;
  }

  function plotEditor(plot, doc) {
    const acts = (plot.acts || []).map((act, index) => editField(`plot.acts.${index}.title`, t('Act {n}', { n: act.number ?? index + 1 }), act.title));
    const scenes = (plot.scenes || []).map((scene, index) => {
      const base = `plot.scenes.${index}`;
      const fields = Object.entries(SCENE_FIELDS).filter(([key]) => key in scene)
        .map(([key, label]) => editField(`${base}.${key}`, label, scene[key], { long: LONG_TEXT.has(key) }));
      const lines = (scene.dialogue || []).map((line, number) => editField(`${base}.dialogue.${number}.text`,
        t('Line {n}: {speaker}', { n: number + 1, speaker: speakerName(doc, line.speaker) }), line.text, { long: true }));
      return h('details', { class: 'scene', dataset: { scene: scene.id || String(index), key: `scene:${index}` }, open: index === 0 },
        h('summary', {}, [scene.id, scene.setting, scene.time_of_day, scene.emotion].filter(Boolean).join(' · ')),
        h('div', { class: 'fields-2' }, fields), lines.length ? h('div', { class: 'scene-lines' }, lines) : null);
    });
    return h('div', { class: 'plot-editor' }, acts.length ? h('div', { class: 'fields-2' }, acts) : null, h('h3', {}, t('Scenes')), scenes);
  }

  /* The storyboard: the page's panels and balloons drawn from their frames and
     positions (fractions of the page), moved with the pointer or the keyboard. */
  function storyboardEditor(doc, editable) {
    const pages = doc.pages || [];
    if (!pages.length) return h('p', { class: 'empty' }, t('No pages yet.'));
    pageIndex = clamp(pageIndex, 0, pages.length - 1);
    const p = pageIndex;
    const page = pages[p];
    const pageNumber = page.number ?? p + 1;
    const goTo = (index) => {
      pageIndex = index;
      selected = null;
      renderEditor();
    };
    const pagePicker = h('select', { id: 'sb-page-picker', 'aria-label': t('Page'), dataset: { key: 'sb-page' }, onchange: (event) => goTo(Number(event.target.value)) },
      pages.map((each, index) => h('option', { value: String(index), selected: index === p }, t('Page {n} of {total}', { n: each.number ?? index + 1, total: pages.length }))));
    const nav = h('div', { class: 'row sb-nav' },
      h('button', { class: 'btn small', type: 'button', disabled: p === 0, dataset: { key: 'sb-previous' }, onclick: () => goTo(p - 1) }, t('Previous page')),
      h('div', {}, pagePicker),
      h('button', { class: 'btn small', type: 'button', disabled: p === pages.length - 1, dataset: { key: 'sb-next' }, onclick: () => goTo(p + 1) }, t('Next page')));
    const live = h('p', { class: 'small muted', id: 'sb-live', role: 'status' });
    const help = h('p', { class: 'small muted', id: 'sb-help' }, editable
      ? t('Drag a panel or a balloon to move it, or a panel\'s corner to resize it. With the keyboard: focus one, move it with the arrow keys (Shift and the arrows resize a panel), then Enter saves and Escape puts it back.')
      : t('Panels and balloons move while the run waits for feedback.'));
    const sheet = h('div', {
      class: `sb-page${editable ? ' editable' : ''}`, id: 'storyboard', role: 'group', 'aria-describedby': 'sb-help',
      'aria-label': t('Page {n} of the storyboard', { n: pageNumber }), dataset: { page: String(p) },
    });
    const inspectorHolder = h('div', { id: 'sb-inspector' });
    const items = [];

    const describe = (item) => {
      const c = item.current;
      const state = changed(item) ? ` ${t('(not saved: Enter saves, Escape puts it back)')}` : '';
      if (item.kind === 'frame') {
        return t('Panel {n}: left {x}, top {y}, width {w}, height {h}', { n: item.number, x: percent(c.x), y: percent(c.y), w: percent(c.w), h: percent(c.h) }) + state;
      }
      return t('Balloon “{text}”: {x} across, {y} down', { text: item.words, x: percent(c.x), y: percent(c.y) }) + state;
    };
    const changed = (item) => Object.keys(item.original).some((key) => Math.abs(item.original[key] - item.current[key]) > 1e-9);
    const place = (item) => {
      const c = item.current;
      item.element.style.left = `${c.x * 100}%`;
      item.element.style.top = `${c.y * 100}%`;
      if (item.kind === 'frame') {
        item.element.style.width = `${c.w * 100}%`;
        item.element.style.height = `${c.h * 100}%`;
      }
      item.element.classList.toggle('unsaved', changed(item));
      item.name.textContent = describe(item);
    };
    const revert = (item) => {
      item.current = { ...item.original };
      place(item);
      live.textContent = t('Put back.');
    };
    const moved = (item, rect, dx, dy) => (item.kind === 'frame'
      ? { ...rect, x: clamp(rect.x + dx, 0, 1 - rect.w), y: clamp(rect.y + dy, 0, 1 - rect.h) }
      : { x: clamp(rect.x + dx, 0, 1), y: clamp(rect.y + dy, 0, 1) });
    const resized = (rect, dw, dh) => ({ ...rect, w: clamp(rect.w + dw, SMALLEST, 1 - rect.x), h: clamp(rect.h + dh, SMALLEST, 1 - rect.y) });

    async function commit(item) {
      const c = item.current;
      let data;
      if (item.kind === 'frame') {
        const w = round4(c.w);
        const hh = round4(c.h);
        data = { frame: { x: Math.min(round4(c.x), 1 - w), y: Math.min(round4(c.y), 1 - hh), w, h: hh } };
      } else {
        data = { position: { x: round4(c.x), y: round4(c.y) } };
      }
      live.textContent = t('Saving…');
      selected = item.elementId;
      if (!(await change({ change_type: 'drag_drop', element_id: item.elementId, change_data: data }))) revert(item);
    }

    function select(item) {
      if (selected === item.elementId && inspectorHolder.childElementCount) return;
      selected = item.elementId;
      for (const other of items) other.element.classList.toggle('selected', other === item);
      clear(inspectorHolder).append(inspector(doc, p, editable));
    }

    function wire(item) {
      const { element } = item;
      element.addEventListener('focus', () => select(item));
      if (!editable) return;
      element.addEventListener('keydown', (event) => {
        const arrow = ARROWS[event.key];
        if (arrow) {
          event.preventDefault();
          const [dx, dy] = arrow;
          item.current = event.shiftKey && item.kind === 'frame'
            ? resized(item.current, dx * STEP, dy * STEP)
            : moved(item, item.current, dx * STEP, dy * STEP);
          place(item);
          live.textContent = describe(item);
        } else if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          if (changed(item)) commit(item);
        } else if (event.key === 'Escape' && changed(item)) {
          event.preventDefault();
          revert(item);
        }
      });
      element.addEventListener('pointerdown', (event) => {
        if (event.button !== 0) return;
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
          item.current = resizing ? resized(start.rect, dx, dy) : moved(item, start.rect, dx, dy);
          place(item);
        };
        const onEnd = (end) => {
          element.removeEventListener('pointermove', onMove);
          element.removeEventListener('pointerup', onEnd);
          element.removeEventListener('pointercancel', onEnd);
          element.classList.remove('dragging');
          if (end.type === 'pointercancel') revert(item);
          else if (dragged && changed(item)) commit(item);
        };
        element.addEventListener('pointermove', onMove);
        element.addEventListener('pointerup', onEnd);
        element.addEventListener('pointercancel', onEnd);
      });
    }

    (page.panels || []).forEach((panel, index) => {
      const elementId = `pages.${p}.panels.${index}`;
      const frame = panel.frame || { x: 0, y: 0, w: 1, h: 1 };
      const number = panel.order ?? index + 1;
      // Its name is the sentence in the hidden span (kept current as it moves); what
      // the frame shows is for the eyes.
      const name = h('span', { class: 'sr-only' });
      const element = h('div', {
        class: `sb-panel${panel.emphasis ? ' emphasis' : ''}`, tabindex: 0, role: 'button',
        dataset: { element: elementId, key: elementId, panel: panel.id || elementId },
      },
      name,
      h('span', { class: 'sb-number', 'aria-hidden': 'true' }, String(number)),
      h('span', { class: 'sb-note', 'aria-hidden': 'true' }, [panel.direction && panel.direction.shot, panel.size].filter(Boolean).join(' · ')),
      editable ? h('span', { class: 'sb-resize', 'aria-hidden': 'true' }) : null);
      const original = { x: frame.x, y: frame.y, w: frame.w, h: frame.h };
      items.push({ kind: 'frame', elementId, element, name, number, original, current: { ...original } });
    });
    (page.panels || []).forEach((panel, index) => {
      (panel.dialogue || []).forEach((line, number) => {
        if (!line.position) return;
        const elementId = `pages.${p}.panels.${index}.dialogue.${number}`;
        const words = text(line.text);
        const name = h('span', { class: 'sr-only' });
        const element = h('div', {
          class: `sb-balloon b-${line.balloon || 'speech'}`, tabindex: 0, role: 'button',
          dataset: { element: elementId, key: elementId, balloon: line.id || elementId },
        }, name, h('span', { 'aria-hidden': 'true' }, words.length > 14 ? `${words.slice(0, 14)}…` : words));
        const original = { x: line.position.x, y: line.position.y };
        items.push({ kind: 'position', elementId, element, name, words: words.length > 40 ? `${words.slice(0, 40)}…` : words, original, current: { ...original } });
      });
    });
    for (const item of items) {
      place(item);
      wire(item);
      sheet.append(item.element);
    }
    const chosen = items.find((item) => item.elementId === selected);
    if (chosen) chosen.element.classList.add('selected');
    inspectorHolder.append(inspector(doc, p, editable));
    return h('div', { class: 'storyboard-editor' }, nav, help, h('div', { class: 'sb-layout' }, sheet, inspectorHolder), live);
  }

  /** The selected panel: its place in the reading order, its direction and its lines. */
  function inspector(doc, p, editable) {
    const match = selected && selected.match(/^pages\.(\d+)\.panels\.(\d+)/);
    const panels = (doc.pages[p] && doc.pages[p].panels) || [];
    const index = match && Number(match[1]) === p ? Number(match[2]) : -1;
    const panel = panels[index];
    if (!panel) return h('p', { class: 'muted small' }, t('Select a panel to edit its direction and lines.'));
    const base = `pages.${p}.panels.${index}`;
    const reorder = (to) => {
      selected = `pages.${p}.panels.${to}`;
      change({ change_type: 'drag_drop', element_id: base, change_data: { to_index: to } });
    };
    const direction = panel.direction || {};
    return h('div', { class: 'sb-details' },
      h('h3', {}, t('Panel {n}', { n: panel.order ?? index + 1 }), panel.id ? h('span', { class: 'muted small' }, ` ${panel.id}`) : null),
      h('p', { class: 'small muted' }, t('Scene {scene} · {size}', { scene: text(panel.scene), size: text(panel.size) })),
      h('div', { class: 'row' },
        h('button', { class: 'btn small', type: 'button', disabled: !editable || index === 0, dataset: { key: 'sb-earlier' }, onclick: () => reorder(index - 1) }, t('Read earlier')),
        h('button', { class: 'btn small', type: 'button', disabled: !editable || index === panels.length - 1, dataset: { key: 'sb-later' }, onclick: () => reorder(index + 1) }, t('Read later'))),
      Object.entries(DIRECTION_FIELDS).filter(([key]) => typeof direction[key] === 'string')
        .map(([key, label]) => editField(`${base}.direction.${key}`, label, direction[key])),
      (panel.dialogue || []).map((line, number) => editField(`${base}.dialogue.${number}.text`,
        t('Line {n}: {speaker}', { n: number + 1, speaker: speakerName(doc, line.speaker) }), line.text, { long: true })));
  }

  /** The style of the whole manga (`style_adjust`): only what was changed is sent. */
  function styleForm(style, editable) {
    const tone = h('input', { type: 'text', name: 'style-tone', maxlength: 200, dataset: { key: 'style:tone' } });
    const art = h('input', { type: 'text', name: 'style-art_style', maxlength: 200, dataset: { key: 'style:art_style' } });
    const slider = (name) => h('input', { type: 'range', name: `style-${name}`, min: 0, max: 1, step: 0.05, dataset: { key: `style:${name}` } });
    const line = slider('line_weight');
    const screentone = slider('screentone_density');
    const color = h('select', { name: 'style-color_mode', dataset: { key: 'style:color_mode' } },
      h('option', { value: 'monochrome' }, t('Monochrome')), h('option', { value: 'color' }, t('Colour')));
    const initial = {
      tone: text(style.tone), art_style: text(style.art_style), line_weight: String(style.line_weight ?? 0.5),
      screentone_density: String(style.screentone_density ?? 0.5), color_mode: style.color_mode || 'monochrome',
    };
    const controls = { tone, art_style: art, line_weight: line, screentone_density: screentone, color_mode: color };
    for (const [name, control] of Object.entries(controls)) {
      control.value = initial[name];
      control.dataset.saved = initial[name];
    }
    const shown = (input) => {
      const output = h('output', { class: 'muted small', 'aria-hidden': 'true' }, input.value);
      input.addEventListener('input', () => {
        output.textContent = input.value;
      });
      return output;
    };
    const withValue = (label, input) => {
      const wrapped = field(label, input);
      wrapped.querySelector('label').append(' ', shown(input));
      return wrapped;
    };
    const form = h('form', { class: 'style-form', id: 'style-form', 'aria-labelledby': 'style-title' },
      h('h3', { id: 'style-title' }, t('Style')),
      h('fieldset', { class: 'editor-fields', disabled: !editable },
        h('legend', { class: 'sr-only' }, t('Style')),
        h('div', { class: 'fields-2' },
          field(t('Tone'), tone), field(t('Art style'), art),
          withValue(t('Line weight'), line), withValue(t('Screentone density'), screentone),
          field(t('Colour'), color)),
        h('button', { class: 'btn', type: 'submit', dataset: { key: 'style:apply' } }, t('Apply the style'))));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const data = {};
      for (const [name, control] of Object.entries(controls)) {
        if (control.value === control.dataset.saved) continue;
        if (control.type === 'range') data[name] = Number(control.value);
        else if (control.value.trim()) data[name] = name === 'color_mode' ? control.value : control.value.trim();
      }
      if (!Object.keys(data).length) {
        toast(t('Nothing to change.'));
        return;
      }
      change({ change_type: 'style_adjust', change_data: data });
    });
    return form;
  }

  /* A change in words: proposed, reviewed as a diff, then applied or discarded */

  function readablePath(pointer) {
    return text(pointer).split('/').slice(1).map((key) => key.replace(/~1/g, '/').replace(/~0/g, '~')).join('.');
  }

  function shortValue(value) {
    if (value === null || value === undefined) return t('(empty)');
    if (typeof value === 'string') return `“${value.length > 120 ? `${value.slice(0, 120)}…` : value}”`;
    if (typeof value !== 'object') return String(value);
    if (Array.isArray(value)) return t('a list of {n}', { n: value.length });
    if (typeof value.id === 'string') return t('{id} (with {fields})', { id: value.id, fields: Object.keys(value).filter((key) => key !== 'id').join(', ') });
    return t('an object with {fields}', { fields: Object.keys(value).join(', ') });
  }

  function diffLine(operation) {
    return h('li', { dataset: { op: text(operation.op) } },
      h('span', { class: `chip op op-${operation.op}` }, OPERATIONS[operation.op] || text(operation.op)), ' ',
      h('code', {}, readablePath(operation.path)),
      operation.from ? [' ← ', h('code', {}, readablePath(operation.from))] : null,
      'value' in operation ? [' → ', h('span', { class: 'diff-value' }, shortValue(operation.value))] : null);
  }

  function showProposal(proposal) {
    const operations = Array.isArray(proposal.diff) ? proposal.diff : [];
    const shown = operations.slice(0, 200);
    const usable = operations.length > 0 && !proposal.error && proposal.status === 'completed';
    const apply = h('button', { class: 'btn primary', type: 'button', id: 'proposal-apply', disabled: !usable || !EDITABLE.has(run.status) }, t('Apply'));
    const discard = h('button', { class: 'btn', type: 'button', id: 'proposal-discard' }, t('Discard'));
    apply.addEventListener('click', async () => {
      apply.disabled = true;
      try {
        const result = await post(`/pipelines/${id}/proposals/${proposal.id}/apply`);
        clear(wordsResult);
        wordsText.value = '';
        wordsStatus.textContent = t('Applied as a new version.');
        toast(t('Applied as a new version.'), 'ok');
        await adopt(result.version);
        wordsText.focus();
      } catch (error) {
        apply.disabled = false;
        wordsStatus.textContent = refusal(error);
      }
    });
    discard.addEventListener('click', () => {
      clear(wordsResult);
      wordsStatus.textContent = t('Discarded: nothing changed.');
      wordsText.focus();
    });
    clear(wordsResult).append(h('div', { class: 'proposal', id: 'proposal-result', dataset: { proposal: proposal.id, status: proposal.status } },
      h('h3', {}, t('The proposal')),
      proposal.summary ? h('p', { class: 'proposal-summary' }, proposal.summary) : null,
      proposal.not_understood && proposal.not_understood.length
        ? h('div', { class: 'warn-box', id: 'proposal-not-understood' }, t('Not understood:'), h('ul', {}, proposal.not_understood.map((part) => h('li', {}, part))))
        : null,
      proposal.error ? h('div', { class: 'error-box' }, proposal.error) : null,
      operations.length ? [
        h('p', { class: 'small', id: 'proposal-diff-title' }, t('What would change ({n}):', { n: operations.length })),
        h('ol', { class: 'diff', id: 'proposal-diff', tabindex: 0, 'aria-labelledby': 'proposal-diff-title' }, shown.map(diffLine)),
        operations.length > shown.length ? h('p', { class: 'muted small' }, t('… and {n} more.', { n: operations.length - shown.length })) : null,
      ] : h('p', { class: 'muted small' }, t('Nothing would change.')),
      h('div', { class: 'row' }, apply, discard)));
  }

  wordsForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const request = wordsText.value.trim();
    setFieldError(wordsText, null);
    if (!request) {
      setFieldError(wordsText, t('Say what to change.'));
      return;
    }
    wordsSend.disabled = true;
    clear(wordsResult);
    wordsStatus.textContent = t('Reading your request…');
    try {
      let proposal = await post(`/pipelines/${id}/proposals`, { text: request });
      while (!PROPOSAL_ENDED.has(proposal.status)) {
        await new Promise((resolve) => { setTimeout(resolve, 400); });
        if (stopped) return;
        proposal = await get(`/pipelines/${id}/proposals/${proposal.id}`);
      }
      wordsStatus.textContent = proposal.status === 'completed'
        ? t('Review the proposal, then apply or discard it.')
        : t('The proposal could not be made.');
      showProposal(proposal);
    } catch (error) {
      wordsStatus.textContent = '';
      setFieldError(wordsText, refusal(error));
    } finally {
      wordsSend.disabled = !EDITABLE.has(run.status) || !head;
    }
  });

  /* The version tree: every phase result and change, none overwritten. A chain of
     versions stays one list; where a version has branches, each is a nested group. */

  async function branchFrom(node) {
    try {
      await post(`/pipelines/${id}/branch`, { version_id: node.id });
      toast(t('Back at phase {n}: the run waits for your feedback on that version.', { n: node.phase }), 'ok');
      await adopt();
      statusText.focus();
    } catch (error) {
      toast(refusal(error), 'error');
    }
  }

  function versionCard(node) {
    return h('div', {
      class: `version-node${node.is_head ? ' head' : ''}`,
      dataset: { version: node.id, parent: node.parent_id || '', phase: String(node.phase), kind: node.kind, head: node.is_head ? 'true' : 'false' },
    },
    h('div', { class: 'row' },
      h('span', { class: 'chip' }, t('Phase {n}', { n: node.phase })),
      h('span', { class: `chip kind-${node.kind}` }, KIND_WORDS[node.kind] || node.kind),
      node.is_head ? h('span', { class: 'chip s-completed' }, t('Current version')) : null,
      h('span', { class: 'muted small grow' }, humanTime(node.created_at))),
    h('div', { class: 'small' }, node.description),
    node.changes.length ? h('ul', { class: 'changes small' }, node.changes.map((summary) => h('li', {}, summary))) : null,
    h('div', { class: 'row node-actions' },
      h('a', { class: 'btn small ghost', href: node.preview_url, target: '_blank', rel: 'noopener', dataset: { key: `preview:${node.id}` } }, t('Preview')),
      node.is_head || run.status === 'cancelled' ? null : h('button', {
        class: 'btn small', type: 'button', dataset: { action: 'branch', key: `branch:${node.id}` }, onclick: () => branchFrom(node),
      }, t('Branch from here'))));
  }

  function renderTree() {
    const focused = treeBody.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    clear(treeBody);
    const all = (tree && tree.versions) || [];
    if (!all.length) {
      treeBody.append(h('p', { class: 'empty' }, t('No versions yet: the first phase is at work.')));
      return;
    }
    const children = new Map();
    for (const node of all) {
      const parent = node.parent_id || '';
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(node);
    }
    // The items of one list: a version, then the one after it while there is one.
    const chain = (first, level) => {
      const items = [];
      let node = first;
      while (node) {
        const next = children.get(node.id) || [];
        const branches = next.length > 1;
        items.push(h('li', { role: 'treeitem', 'aria-level': level, 'aria-expanded': branches ? 'true' : null },
          versionCard(node),
          branches ? next.map((child) => h('ul', { role: 'group', class: 'branch' }, chain(child, level + 1))) : null));
        node = branches ? null : next[0];
      }
      return items;
    };
    treeBody.append(h('ul', { class: 'tree version-tree', role: 'tree', 'aria-label': t('Version tree') },
      (children.get('') || []).flatMap((root) => chain(root, 1))));
    if (focused) treeBody.querySelector(`[data-key="${CSS.escape(focused)}"]`)?.focus();
  }

  const tick = setInterval(() => {
    const clock = statusBody.querySelector('#run-countdown');
    if (clock && run && run.waiting_until) clock.textContent = countdown();
  }, 1000);

  try {
    await serial(async () => show(await get(`/pipelines/${id}`)));
  } catch (error) {
    clearInterval(tick);
    clear(main).append(h('div', { class: 'error-box', role: 'alert' }, describeError(error)),
      h('p', {}, h('a', { href: '#/manga' }, t('All runs'))));
    return null;
  }
  return () => {
    stopped = true;
    clearInterval(tick);
    if (source) source.close();
    source = null;
  };
}
