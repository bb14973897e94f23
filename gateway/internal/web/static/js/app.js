// Entry point of every page: the header's signed-in state, sign-out, the
// cookie banner, before/after sliders, then the page's own module.
import { api } from './api.js';
import { currentUser, refreshBalance } from './session.js';
import { initConsent } from './consent.js';
import { initCompare, notice } from './ui.js';

const PAGES = new Set(['landing', 'sign-in', 'check-email', 'confirm', 'studio', 'gallery', 'credits',
  'checkout-test', 'settings', 'contact', 'api']);

async function initHeader() {
  let user = null;
  try {
    user = await currentUser();
  } catch {
    // The header stays signed out; the page shows its own error.
  }
  for (const el of document.querySelectorAll('[data-auth]')) {
    el.hidden = (el.dataset.auth === 'in') !== Boolean(user);
  }
  if (user) refreshBalance().catch(() => {});
  for (const button of document.querySelectorAll('[data-sign-out]')) {
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        await api('/v1/auth/sessions/current', { method: 'DELETE' });
      } catch {
        // Signed out already, or the server is away: the cookie is the
        // server's to clear; go home either way.
      }
      location.assign('/?signed-out=1');
    });
  }
}

function initNotices() {
  const q = new URLSearchParams(location.search);
  if (q.has('signed-out')) notice('ok', 'You are signed out.');
  if (q.has('deleted')) notice('ok', 'Your account is being deleted.', 'Everything we hold about you is being erased. Thank you for trying Photoshoot Studio.');
}

initConsent();
initHeader();
initNotices();
for (const el of document.querySelectorAll('[data-compare]')) initCompare(el);

const page = document.body.dataset.page;
// data-ready marks the page as interactive (its handlers are attached),
// for people's assistive tools and for the browser tests alike.
const markReady = () => { document.body.dataset.ready = '1'; };
if (PAGES.has(page)) {
  import(`./pages/${page}.js`).then((m) => m.default && m.default()).then(markReady, (err) => {
    console.error(err);
    notice('error', 'This page could not start.', 'Reload the page. If it keeps happening, contact us.');
  });
} else {
  markReady();
}
