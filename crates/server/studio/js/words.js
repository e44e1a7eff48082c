// Codes and states in words a person understands: API errors, task errors,
// statuses, roles, sizes and times, in the studio's language (js/i18n.js).

import { locale, t } from './i18n.js';

const TASK_ERRORS = {
  timeout: t('The provider took too long to answer. Retrying usually helps.'),
  connection_refused: t('The provider could not be reached. Check its address, or retry later.'),
  provider_error: t('The provider had an internal error. Retrying later usually helps.'),
  provider_rate_limited: t('The provider is limiting how fast we can send work. Retry in a little while.'),
  provider_rejected: t('The provider refused this request; changing the settings or the prompt may help.'),
  provider_unauthorized: t('The provider refused the API key. An administrator needs to check the key in the configuration.'),
  insufficient_credits: t('The provider account has run out of credits.'),
  malformed_response: t('The provider answered something Atelier could not read.'),
  generation_failed: t('The model could not generate this. Try another prompt or other settings.'),
  content_filtered: t('The provider\'s content checks refused the prompt, an input or the result. Change the prompt or the images.'),
  submit_unknown: t('The request was sent but its answer was lost, so Atelier did not send it again (to avoid paying twice). Retry to send it anew.'),
  poll_timeout: t('The provider never finished within the time allowed for this model.'),
  worker_crashed: t('The server stopped while working on this too many times, so it was given up.'),
  expired: t('It waited in the queue longer than allowed.'),
};

const API_ERRORS = {
  network_error: t('The server could not be reached. Check your connection.'),
  unauthorized: t('You are signed out. Sign in again.'),
  invalid_credentials: t('The email or password is wrong.'),
  totp_required: t('Enter the six-digit code from your authenticator app.'),
  invalid_totp: t('That code is not right (or was already used). Wait for the next one.'),
  forbidden: t('Your role does not allow this.'),
  csrf_token_missing: t('Your session needs refreshing: reload the page.'),
  not_found: t('It no longer exists.'),
  rate_limit_exceeded: t('Too many requests at once.'),
  quota_exceeded: t('The daily quota for this is used up.'),
  queue_full: t('The server is busy; try again shortly.'),
  storage_unavailable: t('The server could not reach its storage. Try again shortly.'),
  internal_error: t('Something went wrong on the server.'),
  engine_unavailable: t('No 3D engine can take this job now: no GPU worker is connected and no fallback engine is allowed, or the engine keeps failing.'),
  job_not_finished: t('The job has not finished yet.'),
};

export const STATUS_WORDS = {
  pending: t('Queued'),
  processing: t('Working'),
  retrying: t('Retrying'),
  waiting_input: t('Waiting for you'),
  completed: t('Done'),
  failed: t('Failed'),
  cancelled: t('Cancelled'),
  expired: t('Expired'),
};

/** The roles' names (the API's values stay as they are). */
export const ROLE_WORDS = {
  viewer: t('viewer'),
  member: t('member'),
  admin: t('admin'),
};

export function roleWord(role) {
  return ROLE_WORDS[role] || role;
}

export const ACTIVE = new Set(['pending', 'processing', 'retrying', 'waiting_input']);

/** A sentence for an ApiError (or any error). */
export function describeError(error) {
  if (!error) return '';
  if (error.code === 'model_unavailable' && error.details && error.details.config_key) {
    return t('This model is not set up yet: an administrator sets {key} (or {env}).',
      { key: error.details.config_key, env: error.details.env_var });
  }
  if (error.code === 'validation_error') return error.message;
  const text = API_ERRORS[error.code] || error.message || t('Something went wrong.');
  if (!error.retryAfter) return text;
  return t('{sentence} Try again in {wait}.', { sentence: text, wait: humanSeconds(error.retryAfter) });
}

/** A sentence for a task's stored error. */
export function describeTaskError(task) {
  const error = task.error;
  if (!error) return task.error_message || '';
  const words = TASK_ERRORS[error.code];
  return words ? t('{sentence} ({detail})', { sentence: words, detail: error.message }) : error.message;
}

export function humanSeconds(seconds) {
  if (seconds < 60) return t('{n} s', { n: Math.ceil(seconds) });
  if (seconds < 3600) return t('{n} min', { n: Math.ceil(seconds / 60) });
  return t('{n} h', { n: Math.round(seconds / 360) / 10 });
}

export function humanBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

const relative = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });

export function humanTime(iso) {
  if (!iso) return '';
  const then = new Date(iso);
  const seconds = (then.getTime() - Date.now()) / 1000;
  const abs = Math.abs(seconds);
  if (abs < 60) return relative.format(Math.round(seconds), 'second');
  if (abs < 3600) return relative.format(Math.round(seconds / 60), 'minute');
  if (abs < 86400) return relative.format(Math.round(seconds / 3600), 'hour');
  if (abs < 86400 * 14) return relative.format(Math.round(seconds / 86400), 'day');
  return then.toLocaleDateString(locale);
}

const SERVICE_NAMES = { kie: 'Kie.ai' };

/**
 * A provider's copy of an input file (`provider_copies` of an upload, `input_copies`
 * of a task), in words: `{ text, warn }`, `warn` when it has expired or will within a
 * day (the server's `state`).
 */
export function copyNote(copy) {
  const service = SERVICE_NAMES[copy.service] || copy.service;
  const time = humanTime(copy.expires_at);
  if (copy.state === 'expired') {
    return { warn: true, text: t('The copy {service} holds expired {time}. Atelier will upload the file again the next time a task uses it.', { service, time }) };
  }
  if (copy.state === 'expiring') {
    return { warn: true, text: t('The copy {service} holds expires {time}, within a day. Atelier will upload the file again the next time a task uses it.', { service, time }) };
  }
  return { warn: false, text: t('{service} holds a copy; it expires {time}.', { service, time }) };
}

/** What a file is, in words, for a tile without a thumbnail (never a bare MIME type). */
export function kindWord(mime) {
  const type = mime || '';
  const known = {
    'model/gltf-binary': t('3D model (GLB)'),
    'model/obj': t('3D model (OBJ)'),
    'model/stl': t('3D model (STL)'),
    'application/zip': t('ZIP archive'),
  };
  if (known[type]) return known[type];
  if (type.startsWith('model/')) return t('3D model');
  if (type.startsWith('video/')) return t('Video');
  if (type.startsWith('audio/')) return t('Audio');
  return type || t('file');
}

/** The text a task is about: its prompt, or what it encodes/speaks. */
export function taskPrompt(task) {
  const input = task.input || {};
  return input.prompt || input.text || input.input || '';
}
