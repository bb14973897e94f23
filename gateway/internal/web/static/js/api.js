// The REST client: same-origin fetch with the HttpOnly session cookie, JSON
// in and out, and google.rpc.Status errors turned into ApiError.

const ERROR_INFO = 'type.googleapis.com/google.rpc.ErrorInfo';
const BAD_REQUEST = 'type.googleapis.com/google.rpc.BadRequest';

/** ApiError is a non-2xx answer (or no answer: status 0). */
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `request failed (${status})`);
    this.status = status;
    this.code = body && body.code;
    this.details = (body && body.details) || [];
    const info = this.details.find((d) => d['@type'] === ERROR_INFO);
    this.reason = info ? info.reason : '';
    const bad = this.details.find((d) => d['@type'] === BAD_REQUEST);
    this.violations = bad ? bad.fieldViolations || [] : [];
  }
}

/** api calls the REST API and resolves with the decoded JSON body. */
export async function api(path, { method = 'GET', body, signal } = {}) {
  const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin', signal };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, { message: 'We could not reach the server. Check your connection and try again.' });
  }
  const text = await res.text();
  let data = {};
  if (text) {
    try { data = JSON.parse(text); } catch { data = { message: text.trim() }; }
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

/** describe turns an error into a sentence for the user. */
export function describe(err, what = 'That') {
  if (!(err instanceof ApiError)) return 'Something went wrong. Please try again.';
  switch (err.status) {
    case 0: return err.message;
    case 401: return 'Your session has ended. Please sign in again.';
    case 404: return `${what} was not found. It may have been deleted.`;
    case 413: return err.message || 'That is too large.';
    case 429: return 'Too many requests in a short time. Wait a moment and try again.';
    case 501: return `${what} is not available on this server yet.`;
    case 502: case 503: case 504: return 'The service is busy or restarting. Try again in a moment.';
  }
  if (err.status >= 500) return 'Something went wrong on our side. Please try again.';
  const msg = err.message || '';
  return msg ? msg.charAt(0).toUpperCase() + msg.slice(1) : 'The request was refused.';
}

/** int reads a protojson int64 (a string) as a number. */
export function int(v) {
  const n = Number(v || 0);
  return Number.isFinite(n) ? n : 0;
}

/**
 * upload sends one file to POST /v1/images as multipart form data,
 * reporting progress (0..1); XMLHttpRequest because fetch has no upload
 * progress. Resolves with the stored image record.
 */
export function upload(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/images');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener('load', () => {
      let data = {};
      try { data = JSON.parse(xhr.responseText || '{}'); } catch { data = { message: (xhr.responseText || '').trim() }; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data.image || data);
      else reject(new ApiError(xhr.status, data));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, { message: 'The upload was interrupted. Check your connection and try again.' })));
    xhr.addEventListener('abort', () => reject(new ApiError(0, { message: 'The upload was cancelled.' })));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

/** imageURL is an image's bytes through the gateway (owner only). */
// Download formats: the value imageURL takes, and the name as people write it.
export const DOWNLOAD_FORMATS = [['jpeg', 'JPEG'], ['png', 'PNG'], ['webp', 'WebP']];

export function imageURL(id, { thumbnail = false, format = '', download = false } = {}) {
  const q = new URLSearchParams();
  if (format) q.set('format', format);
  if (download) q.set('download', '1');
  const qs = q.toString();
  return `/v1/images/${encodeURIComponent(id)}/${thumbnail ? 'thumbnail' : 'content'}${qs ? '?' + qs : ''}`;
}
