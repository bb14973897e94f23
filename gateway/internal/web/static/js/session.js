// The signed-in user, read once per page from GET /v1/me.
import { api, ApiError, int } from './api.js';

let mePromise;

/** currentUser resolves with the user, or null when signed out. */
export function currentUser() {
  if (!mePromise) {
    mePromise = api('/v1/me').then((r) => r.user || null).catch((err) => {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403 || err.status === 404)) return null;
      throw err;
    });
  }
  return mePromise;
}

/**
 * requireUser resolves with the user, or sends the visitor to sign in and
 * comes back here afterwards.
 */
export async function requireUser() {
  const user = await currentUser();
  if (!user) {
    const next = location.pathname + location.search;
    location.assign('/sign-in?next=' + encodeURIComponent(next));
    return new Promise(() => {});
  }
  return user;
}

/** safeNext is a same-site path to return to after sign-in. */
export function safeNext(fallback = '/studio') {
  const next = new URLSearchParams(location.search).get('next') || '';
  return next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : fallback;
}

const balanceListeners = new Set();

/** refreshBalance reads the balance and updates every display of it. */
export async function refreshBalance() {
  const b = await api('/v1/billing/balance');
  const balance = { available: int(b.available), held: int(b.held) };
  for (const el of document.querySelectorAll('[data-balance]')) el.textContent = balance.available.toLocaleString();
  for (const fn of balanceListeners) fn(balance);
  return balance;
}

/** onBalance calls fn with every balance read. */
export function onBalance(fn) {
  balanceListeners.add(fn);
}
