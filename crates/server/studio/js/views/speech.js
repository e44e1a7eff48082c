// Speech: text to speech with the built-in `local/speech` model. Type (the count
// of characters against the model's limit is shown), pick a voice (Piper's neural
// ones and espeak-ng's formant ones, from the model's schema), a language, speed,
// pitch (espeak-ng only) and format; Speak makes the task, its progress is said to
// screen readers, and the file plays here with its details (from `media`), the
// engine and voice that spoke, and a download link. Earlier speech is listed below.

import { post } from '../api.js';
import { append, clear, field, h, setFieldError, statusChip } from '../dom.js';
import { t } from '../i18n.js';
import { downloadName, mediaDetails, player, taskCard, cardStack, recentTasks } from '../media.js';
import { describeError, humanTime, STATUS_WORDS } from '../words.js';

const MODEL = 'local/speech';
const RECENT = 10;
const KEEP_CARDS = 3;
/** Piper's voices are named `en_US-joe-medium`; espeak-ng's `en-us`, `ja`, `cmn`. */
const PIPER_NAME = /^[a-z]{2,3}_[A-Z]{2}-/;

const FORMATS = [
  { value: 'wav', label: t('WAV (uncompressed)') },
  { value: 'mp3', label: 'MP3' },
  { value: 'ogg', label: t('Ogg Vorbis') },
  { value: 'opus', label: t('Opus (in Ogg)') },
  { value: 'flac', label: t('FLAC (lossless)') },
];

const ENGINE_NAMES = { piper: 'Piper', espeak: 'espeak-ng' };

export function engineOf(voice) {
  if (!voice) return 'auto';
  return PIPER_NAME.test(voice) ? 'piper' : 'espeak';
}

/** Who spoke, from a task's normalised input: `Piper · en_US-joe-medium · en`. */
function spokenBy(input) {
  const engine = ENGINE_NAMES[input.engine] || input.engine || '';
  return t('Spoken by {engine}, voice {voice} ({language})', { engine, voice: input.voice || '?', language: input.language || '?' });
}

export async function speechView(main, { models }) {
  const model = (await models()).find((each) => each.id === MODEL);
  let stopped = false;
  if (!model || !model.usable) {
    main.append(h('h1', {}, t('Speech')), h('div', { class: 'warn-box' }, t('The speech model (local/speech) is not available on this server.')));
    return null;
  }
  const schema = model.input_schema.properties;
  const limit = schema.text.maxLength || 5000;
  const voices = (schema.voice && schema.voice.enum) || [];
  const piperVoices = voices.filter((voice) => engineOf(voice) === 'piper');
  const espeakVoices = voices.filter((voice) => engineOf(voice) === 'espeak');

  /* The form */
  const text = h('textarea', { name: 'text', id: 'speech-text', rows: 6, maxlength: limit, placeholder: t('Type what to say.'), required: true });
  const count = h('div', { class: 'hint char-count', id: 'speech-text-count', dataset: { count: '' } });
  const voice = h('select', { name: 'voice', id: 'speech-voice' },
    h('option', { value: '' }, t('Automatic: the best voice for the language')),
    piperVoices.length ? h('optgroup', { label: t('Piper: neural, natural-sounding') }, piperVoices.map((name) => h('option', { value: name }, name))) : null,
    espeakVoices.length ? h('optgroup', { label: t('espeak-ng: formant synthesis, robotic') }, espeakVoices.map((name) => h('option', { value: name }, name))) : null);
  const voiceNote = h('div', { class: 'hint', id: 'speech-voice-note' },
    t('Piper voices are neural: natural, one for each language installed. espeak-ng voices are formant synthesis: robotic, but in about a hundred languages.'));
  const language = h('input', { type: 'text', name: 'language', id: 'speech-language', maxlength: 35, autocomplete: 'off', placeholder: 'en, en-GB, ja, zh…' });
  const speed = h('input', { type: 'range', name: 'speed', id: 'speech-speed', min: 0.5, max: 2, step: 0.05, value: 1 });
  const speedValue = h('output', { for: 'speech-speed', class: 'range-value' }, '1.00×');
  const pitch = h('input', { type: 'range', name: 'pitch', id: 'speech-pitch', min: 0, max: 99, step: 1, value: 50 });
  const pitchValue = h('output', { for: 'speech-pitch', class: 'range-value' }, '50');
  const pitchNote = h('div', { class: 'hint', id: 'speech-pitch-note' });
  const format = h('select', { name: 'format', id: 'speech-format' }, FORMATS.map((each) => h('option', { value: each.value }, each.label)));
  const message = h('div', { class: 'error-box', role: 'alert', hidden: true });
  const submit = h('button', { class: 'btn primary block', type: 'submit', id: 'speech-submit' }, t('Speak'));

  const textField = field(t('Text'), text);
  textField.insertBefore(count, textField.querySelector('.error-text'));
  text.setAttribute('aria-describedby', count.id);
  const voiceField = field(t('Voice'), voice);
  voiceField.insertBefore(voiceNote, voiceField.querySelector('.error-text'));
  voice.setAttribute('aria-describedby', voiceNote.id);
  const speedField = h('div', { class: 'field' }, h('label', { for: speed.id }, t('Speed')), h('div', { class: 'row' }, h('div', { class: 'grow' }, speed), speedValue));
  const pitchField = h('div', { class: 'field' }, h('label', { for: pitch.id }, t('Pitch')), h('div', { class: 'row' }, h('div', { class: 'grow' }, pitch), pitchValue), pitchNote,
    h('div', { class: 'error-text', hidden: true }));
  pitch.setAttribute('aria-describedby', pitchNote.id);

  const form = h('form', { class: 'panel form', id: 'speech-form', novalidate: true },
    h('h1', {}, t('Speech')),
    h('p', { class: 'muted small' }, t('Type some text, pick a voice and hear it: made on this server, no key needed.')),
    textField, voiceField,
    field(t('Language'), language, t('Leave it empty to use the voice\'s language, or to guess it from the text.')),
    h('div', { class: 'fields-2' }, speedField, field(t('Format'), format)),
    pitchField, message, submit);

  function showCount() {
    const n = [...text.value].length;
    count.textContent = t('{n} of {max} characters', { n: n.toLocaleString('en'), max: limit.toLocaleString('en') });
    count.classList.toggle('near-limit', n > limit * 0.9);
  }
  text.addEventListener('input', () => {
    showCount();
    if (text.value.trim()) setFieldError(text, null);
  });
  speed.addEventListener('input', () => {
    speedValue.textContent = `${Number(speed.value).toFixed(2)}×`;
    speed.setAttribute('aria-valuetext', `${Number(speed.value).toFixed(2)}×`);
  });
  pitch.addEventListener('input', () => {
    pitchValue.textContent = pitch.value;
  });

  /** Pitch is espeak-ng's only: off, with the reason, for Piper and for automatic. */
  function showPitch() {
    const engine = engineOf(voice.value);
    pitch.disabled = engine !== 'espeak';
    pitchField.classList.toggle('disabled', pitch.disabled);
    pitchNote.textContent = engine === 'piper'
      ? t('Piper voices have no pitch control: choose an espeak-ng voice to change the pitch.')
      : engine === 'auto'
        ? t('Pitch works with espeak-ng voices only: choose one to change it.')
        : t('50 is the voice\'s own pitch.');
  }
  voice.addEventListener('change', showPitch);
  showCount();
  showPitch();

  function request() {
    setFieldError(text, null);
    if (!text.value.trim()) {
      setFieldError(text, t('Type something to say.'));
      return null;
    }
    const input = { text: text.value, format: format.value, speed: Number(speed.value) };
    if (voice.value) {
      input.voice = voice.value;
      input.engine = engineOf(voice.value);
    }
    if (language.value.trim()) input.language = language.value.trim();
    if (!pitch.disabled) input.pitch = Number(pitch.value);
    return input;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    message.hidden = true;
    setFieldError(language, null);
    setFieldError(voice, null);
    const input = request();
    if (!input) {
      text.focus();
      return;
    }
    submit.disabled = true;
    try {
      const task = await post('/tasks', { model: MODEL, input }, { headers: { 'idempotency-key': crypto.randomUUID() } });
      show(task);
    } catch (error) {
      const name = error.details && error.details.field;
      const control = { text, voice, language, pitch, speed, format }[name];
      if (error.code === 'validation_error' && control && control !== pitch && control !== speed) {
        setFieldError(control, error.message);
        control.focus();
      } else {
        message.textContent = describeError(error);
        if (error.code === 'engine_unavailable' && error.message) message.append(h('div', { class: 'small' }, error.message));
        message.hidden = false;
      }
    } finally {
      submit.disabled = false;
    }
  });

  /* Results */
  const results = h('div', { id: 'speech-results' });
  const stack = cardStack(results, KEEP_CARDS);
  const recentList = h('ul', { class: 'recent-jobs', id: 'speech-recent' });
  const recentNote = h('p', { class: 'empty', 'aria-live': 'polite' }, t('Loading…'));

  function resultView(task, slot) {
    const output = (task.images || []).find((image) => (image.mime_type || '').startsWith('audio/'));
    if (!output) {
      clear(slot).append(h('p', { class: 'muted small' }, t('The task finished without a file.')));
      return;
    }
    const input = task.input || {};
    clear(slot).append(
      player(output, { label: t('The speech: “{text}”', { text: (input.text || '').slice(0, 60) }) }),
      h('p', { class: 'small', dataset: { spokenBy: '' } }, spokenBy(input)),
      h('p', { class: 'muted small', dataset: { details: '' } }, mediaDetails(output)),
      h('div', { class: 'row downloads' },
        h('a', { class: 'btn small', href: output.url, download: downloadName(output), dataset: { action: 'download' } }, t('Download'))));
  }

  function show(task) {
    stack.show(task, () => taskCard(task, {
      title: taskTitle(task), label: t('Speech task'), workingWord: t('Speaking…'),
      showResult: resultView, onEnded: () => loadRecent(),
    }));
  }

  function taskTitle(task) {
    const words = (task.input && task.input.text) || '';
    return words.length > 80 ? `${words.slice(0, 80)}…` : words;
  }

  const loadRecent = recentTasks({
    model: MODEL, limit: RECENT, list: recentList, note: recentNote, empty: t('Nothing spoken yet.'), row: recentRow,
    stopped: () => stopped,
  });

  function recentRow(task) {
    const output = (task.images || []).find((image) => (image.mime_type || '').startsWith('audio/'));
    const input = task.input || {};
    const title = taskTitle(task) || t('Speech');
    return h('li', { class: 'recent-job recent-audio', dataset: { task: task.task_id, status: task.status } },
      h('span', { class: 'recent-thumb' }, h('span', { class: 'kind', 'aria-hidden': 'true' }, '♪')),
      h('span', { class: 'recent-meta' }, h('span', { class: 'prompt' }, title),
        h('span', { class: 'row' }, statusChip(task.status, STATUS_WORDS),
          h('span', { class: 'muted small' }, [input.voice ? `${ENGINE_NAMES[input.engine] || input.engine} · ${input.voice}` : null, output ? mediaDetails(output) : null, humanTime(task.created_at)].filter(Boolean).join(' · ')))),
      output ? h('a', {
        class: 'btn small', href: output.url, download: downloadName(output), dataset: { action: 'download' },
        'aria-label': t('Download “{text}”', { text: title.slice(0, 60) }),
      }, t('Download')) : h('span', {}),
      output ? player(output, { label: t('The speech: “{text}”', { text: title.slice(0, 60) }), preload: 'none' }) : null);
  }

  main.append(h('div', { class: 'media-page speech' }, form,
    h('section', { 'aria-label': t('Speech results') }, results,
      h('h2', {}, t('Recent speech')), recentNote, recentList)));
  loadRecent();

  return () => {
    stopped = true;
    stack.stopAll();
  };
}
