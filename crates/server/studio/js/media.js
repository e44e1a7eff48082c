// Audio and video outputs: their details in words (from the `media` a probe found
// when the file was stored), the players, what a tile shows for them, and a card
// that follows one task to its end with progress said to screen readers. Used by
// the Speech and Video pages, the gallery and the lightbox.

import { get, query } from './api.js';
import { append, clear, h, statusChip } from './dom.js';
import { t } from './i18n.js';
import { ACTIVE, describeError, describeTaskError, humanBytes, kindWord, STATUS_WORDS } from './words.js';

const POLL_MS = 400;
const POLL_MAX_MS = 5000;

/** `1:05`, `0:02.4` under ten seconds (a short clip's length matters to the tenth). */
export function humanDuration(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '';
  if (seconds < 10) return `0:0${seconds.toFixed(1)}`;
  const whole = Math.round(seconds);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = String(whole % 60).padStart(2, '0');
  return hours ? `${hours}:${String(minutes).padStart(2, '0')}:${rest}` : `${minutes}:${rest}`;
}

/** The file's details in one line: length, codec, rate, channels, size (what is known). */
export function mediaDetails(image) {
  const media = image.media || {};
  const parts = [];
  if (media.duration_secs) parts.push(t('{time} long', { time: humanDuration(media.duration_secs) }));
  if (image.width && image.height) parts.push(`${image.width} × ${image.height}`);
  if (media.codec) parts.push(media.codec);
  if (media.fps) parts.push(t('{n} fps', { n: Math.round(media.fps * 100) / 100 }));
  if (media.sample_rate) parts.push(`${media.sample_rate.toLocaleString('en')} Hz`);
  if (media.channels) parts.push(media.channels === 1 ? t('mono') : media.channels === 2 ? t('stereo') : t('{n} channels', { n: media.channels }));
  if (media.has_audio === true) parts.push(t('with sound'));
  if (media.has_audio === false) parts.push(t('no sound'));
  if (image.file_size) parts.push(humanBytes(image.file_size));
  return parts.join(' · ');
}

/** An `<audio controls>` or `<video controls>` for an output, named for screen readers. */
export function player(image, { label, preload = 'metadata' } = {}) {
  const type = image.mime_type || '';
  if (type.startsWith('video/')) {
    return h('video', {
      src: image.url, controls: true, playsinline: true, preload, poster: image.thumbnail_url || null,
      'aria-label': label || t('Video'), dataset: { full: image.image_id },
    });
  }
  return h('audio', { src: image.url, controls: true, preload, 'aria-label': label || t('Audio'), dataset: { full: image.image_id } });
}

/** The file name a download link offers. */
export function downloadName(image) {
  const known = {
    'audio/wav': 'wav', 'audio/x-wav': 'wav', 'audio/mpeg': 'mp3', 'audio/ogg': 'ogg', 'audio/opus': 'opus', 'audio/flac': 'flac', 'video/mp4': 'mp4', 'video/webm': 'webm',
  };
  return `${image.image_id}.${known[image.mime_type] || 'bin'}`;
}

/**
 * What a grid tile shows: the thumbnail, else the kind in words; audio with a
 * note icon and its length; a video's length on a badge.
 */
export function tileContent(image, { lazy = true } = {}) {
  const type = image.mime_type || '';
  const duration = image.media && image.media.duration_secs ? humanDuration(image.media.duration_secs) : '';
  if (type.startsWith('audio/')) {
    return h('span', { class: 'kind audio-kind' },
      h('span', { class: 'kind-icon', 'aria-hidden': 'true' }, '♪'),
      h('span', {}, kindWord(type)),
      duration ? h('span', { class: 'kind-duration', dataset: { duration: '' } }, duration) : null);
  }
  const picture = image.thumbnail_url ? h('img', { src: image.thumbnail_url, alt: '', loading: lazy ? 'lazy' : null }) : h('span', { class: 'kind' }, kindWord(type));
  if (type.startsWith('video/')) {
    return [picture, h('span', { class: 'tile-badge', dataset: { duration: '' } }, `▶ ${duration || t('Video')}`)];
  }
  return picture;
}

/**
 * A card following task `task` (as POST /tasks answered it) until it ends: a
 * status chip, a progress bar, a sentence for screen readers when the status
 * changes, then `showResult(task, slot)` once it is done. `{ node, stop() }`.
 */
export function taskCard(task, { title, label, workingWord, showResult, onEnded }) {
  const chip = h('span', {});
  const bar = h('span', {});
  const progress = h('div', {
    class: 'progress', role: 'progressbar', 'aria-label': label, 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': 0,
  }, bar);
  // Said once per change of status (not per percent): enough to follow, not chatter.
  const said = h('p', { class: 'sr-only', role: 'status', 'aria-live': 'polite', dataset: { said: '' } });
  const note = h('div', {});
  const result = h('div', { class: 'job-result' });
  const node = h('article', { class: 'job media-job', dataset: { task: task.task_id, status: task.status }, 'aria-label': label },
    h('div', { class: 'job-head' }, chip, h('span', { class: 'prompt' }, title), h('span', { class: 'muted small' }, `${task.service}/${task.model}`)),
    progress, said, note, result);
  let stopped = false;
  let timer = 0;
  let wait = POLL_MS;
  let lastStatus = null;

  function update(current) {
    clear(chip).append(statusChip(current.status, STATUS_WORDS));
    node.dataset.status = current.status;
    const percent = current.status === 'completed' ? 100 : Math.round(current.progress || 0);
    bar.style.width = `${percent}%`;
    progress.setAttribute('aria-valuenow', String(percent));
    if (current.status !== lastStatus) {
      lastStatus = current.status;
      said.textContent = current.status === 'completed' ? t('Done.')
        : ACTIVE.has(current.status) ? workingWord : STATUS_WORDS[current.status] || current.status;
    }
  }

  async function poll() {
    if (stopped) return;
    try {
      const current = await get(`/tasks/${task.task_id}`);
      wait = POLL_MS;
      update(current);
      if (!ACTIVE.has(current.status)) {
        if (current.status === 'completed') {
          showResult(current, result);
        } else {
          clear(note).append(h('div', { class: 'error-box', role: 'alert' }, describeTaskError(current) || STATUS_WORDS[current.status]));
        }
        if (onEnded) onEnded(current);
        return;
      }
    } catch (error) {
      if (error.status === 404) {
        clear(note).append(h('div', { class: 'error-box' }, describeError(error)));
        return;
      }
      wait = Math.min(wait * 2, POLL_MAX_MS);
    }
    if (!stopped) timer = setTimeout(poll, wait);
  }

  update(task);
  if (ACTIVE.has(task.status)) timer = setTimeout(poll, POLL_MS);
  else poll();
  return {
    node,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/**
 * The task cards of a page, newest first in `container`: a task shown again moves
 * to the top instead of getting a second card, and only the newest `keep` stay
 * (older ones stop polling and go). `show(task, make)` makes a card with `make()`
 * when the task has none; `stopAll()` stops every card (leaving the page).
 */
export function cardStack(container, keep) {
  const cards = [];
  return {
    show(task, make) {
      const existing = cards.find((card) => card.id === task.task_id);
      if (existing) {
        container.prepend(existing.node);
        existing.node.scrollIntoView({ block: 'nearest' });
        return;
      }
      const card = make();
      card.id = task.task_id;
      cards.unshift(card);
      container.prepend(card.node);
      card.node.scrollIntoView({ block: 'nearest' });
      while (cards.length > keep) {
        const old = cards.pop();
        old.stop();
        old.node.remove();
      }
    },
    stopAll() {
      for (const card of cards.splice(0)) card.stop();
    },
  };
}

/**
 * A page's recent tasks of one model, newest first, drawn into `list` by `row`; `empty`
 * says there are none, an error goes in `note`. Returns the loader: a later call wins
 * over an earlier one still on its way, and none draws once `stopped()` (the page left).
 */
export function recentTasks({ model, limit, list, note, empty, row, stopped }) {
  let latest = 0;
  return async function load() {
    const mine = ++latest;
    try {
      const page = await get(`/tasks${query({ model, limit })}`);
      if (mine !== latest || stopped()) return;
      append(clear(list), page.tasks.map(row));
      note.textContent = page.tasks.length ? '' : empty;
    } catch (error) {
      if (mine === latest) clear(note).append(h('span', { class: 'error-box' }, describeError(error)));
    }
  };
}
