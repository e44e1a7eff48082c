// Codes and states in words a person understands: API errors, task errors,
// statuses, sizes and times.

const TASK_ERRORS = {
  timeout: 'The provider took too long to answer. Retrying usually helps.',
  connection_refused: 'The provider could not be reached. Check its address, or retry later.',
  provider_error: 'The provider had an internal error. Retrying later usually helps.',
  provider_rate_limited: 'The provider is limiting how fast we can send work. Retry in a little while.',
  provider_rejected: 'The provider refused this request; changing the settings or the prompt may help.',
  provider_unauthorized: 'The provider refused the API key. An administrator needs to check the key in the configuration.',
  insufficient_credits: 'The provider account has run out of credits.',
  malformed_response: 'The provider answered something Atelier could not read.',
  generation_failed: 'The model could not generate this. Try another prompt or other settings.',
  submit_unknown: 'The request was sent but its answer was lost, so Atelier did not send it again (to avoid paying twice). Retry to send it anew.',
  poll_timeout: 'The provider never finished within the time allowed for this model.',
  worker_crashed: 'The server stopped while working on this too many times, so it was given up.',
  expired: 'It waited in the queue longer than allowed.',
};

const API_ERRORS = {
  network_error: 'The server could not be reached. Check your connection.',
  unauthorized: 'You are signed out. Sign in again.',
  invalid_credentials: 'The email or password is wrong.',
  totp_required: 'Enter the six-digit code from your authenticator app.',
  invalid_totp: 'That code is not right (or was already used). Wait for the next one.',
  forbidden: 'Your role does not allow this.',
  csrf_token_missing: 'Your session needs refreshing: reload the page.',
  not_found: 'It no longer exists.',
  rate_limit_exceeded: 'Too many requests at once.',
  quota_exceeded: 'The daily quota for this is used up.',
  queue_full: 'The server is busy; try again shortly.',
  storage_unavailable: 'The server could not reach its storage. Try again shortly.',
  internal_error: 'Something went wrong on the server.',
};

export const STATUS_WORDS = {
  pending: 'Queued',
  processing: 'Working',
  retrying: 'Retrying',
  waiting_input: 'Waiting for you',
  completed: 'Done',
  failed: 'Failed',
  cancelled: 'Cancelled',
  expired: 'Expired',
};

export const ACTIVE = new Set(['pending', 'processing', 'retrying', 'waiting_input']);

/** A sentence for an ApiError (or any error). */
export function describeError(error) {
  if (!error) return '';
  if (error.code === 'model_unavailable' && error.details && error.details.config_key) {
    return `This model is not set up yet: an administrator sets ${error.details.config_key} (or ${error.details.env_var}).`;
  }
  if (error.code === 'validation_error') return error.message;
  let text = API_ERRORS[error.code] || error.message || 'Something went wrong.';
  if (error.retryAfter) text += ` Try again in ${humanSeconds(error.retryAfter)}.`;
  return text;
}

/** A sentence for a task's stored error. */
export function describeTaskError(task) {
  const error = task.error;
  if (!error) return task.error_message || '';
  const words = TASK_ERRORS[error.code];
  return words ? `${words} (${error.message})` : error.message;
}

export function humanSeconds(seconds) {
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  if (seconds < 3600) return `${Math.ceil(seconds / 60)} min`;
  return `${Math.round(seconds / 360) / 10} h`;
}

export function humanBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

export function humanTime(iso) {
  if (!iso) return '';
  const then = new Date(iso);
  const seconds = (then.getTime() - Date.now()) / 1000;
  const abs = Math.abs(seconds);
  if (abs < 60) return relative.format(Math.round(seconds), 'second');
  if (abs < 3600) return relative.format(Math.round(seconds / 60), 'minute');
  if (abs < 86400) return relative.format(Math.round(seconds / 3600), 'hour');
  if (abs < 86400 * 14) return relative.format(Math.round(seconds / 86400), 'day');
  return then.toLocaleDateString();
}

/** The text a task is about: its prompt, or what it encodes/speaks. */
export function taskPrompt(task) {
  const input = task.input || {};
  return input.prompt || input.text || input.input || '';
}
