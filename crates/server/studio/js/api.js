// The studio's only way to the server: `/api/v1`, signed in with the session
// cookie, the CSRF token on every change, and errors as ApiError carrying the
// server's stable code.

import { t } from './i18n.js';

let csrfToken = null;

export function setCsrfToken(token) {
  csrfToken = token || null;
}

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.error) || `http_${status}`;
    this.details = (body && body.details) || {};
    this.retryAfter = retryAfter ? Number(retryAfter) : null;
  }
}

function headersFor(method, extra = {}) {
  const headers = { accept: 'application/json', ...extra };
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['x-csrf-token'] = csrfToken;
  return headers;
}

export async function api(method, path, body, { headers = {}, signal } = {}) {
  const extra = { ...headers };
  let payload;
  if (body instanceof FormData || body instanceof Blob) {
    payload = body;
  } else if (body !== undefined) {
    extra['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers: headersFor(method, extra),
      body: payload,
      credentials: 'same-origin',
      signal,
    });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, { error: 'network_error', message: t('The server could not be reached.') });
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: `http_${response.status}`, message: text.slice(0, 200) };
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data, response.headers.get('retry-after'));
    // A session that ended (expired, signed out elsewhere): back to the sign-in page.
    if (response.status === 401 && !path.startsWith('/sessions')) {
      window.dispatchEvent(new CustomEvent('atelier:signed-out'));
    }
    throw error;
  }
  return data;
}

export const get = (path, options) => api('GET', path, undefined, options);
export const post = (path, body, options) => api('POST', path, body, options);
export const patch = (path, body, options) => api('PATCH', path, body, options);
export const put = (path, body, options) => api('PUT', path, body, options);
export const del = (path, body, options) => api('DELETE', path, body, options);

/** Uploads a file with progress (fetch cannot report upload progress). */
export function upload(file, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', `/api/v1/uploads?name=${encodeURIComponent(file.name)}`);
    for (const [name, value] of Object.entries(headersFor('POST', { 'content-type': file.type || 'application/octet-stream' }))) {
      request.setRequestHeader(name, value);
    }
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    request.onload = () => {
      let data = null;
      try {
        data = JSON.parse(request.responseText);
      } catch {
        data = null;
      }
      if (request.status >= 200 && request.status < 300) resolve(data);
      else reject(new ApiError(request.status, data, request.getResponseHeader('retry-after')));
    };
    request.onerror = () => reject(new ApiError(0, { error: 'network_error', message: t('The upload was interrupted.') }));
    request.send(file);
  });
}

/** Builds a query string from the non-empty entries of `params`. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
