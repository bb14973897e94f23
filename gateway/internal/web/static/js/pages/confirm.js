// The magic link's landing page. The token is in the fragment, which never
// reaches a server, and is spent only when the person presses the button:
// mail scanners that open links must not sign anyone in.
import { api, ApiError, describe } from '../api.js';
import { $, alertBox, busy, h, replace } from '../ui.js';

export default function confirm() {
  const token = new URLSearchParams(location.hash.slice(1)).get('token') || '';
  const button = $('[data-confirm-button]');
  const errorBox = $('[data-form-error]');
  const failed = (title, body) => {
    replace(errorBox, alertBox('error', title, body, ' ', h('a', { href: '/sign-in' }, 'Get a new link')));
  };
  if (!token) {
    button.hidden = true;
    $('[data-confirm-text]').hidden = true;
    failed('This link is incomplete.', 'Copy the whole link from the email, or ask for a new one.');
    return;
  }
  button.focus();
  button.addEventListener('click', async () => {
    busy(button, true);
    replace(errorBox);
    try {
      await api('/v1/auth/sessions', { method: 'POST', body: { token } });
      history.replaceState(null, '', location.pathname);
      const next = sessionStorage.getItem('ps-sign-in-next') || '/studio';
      sessionStorage.removeItem('ps-sign-in-next');
      location.replace(next.startsWith('/') && !next.startsWith('//') ? next : '/studio');
    } catch (err) {
      busy(button, false);
      if (err instanceof ApiError && [400, 401, 404, 412].includes(err.status)) {
        button.hidden = true;
        failed('This link has expired or was already used.', 'Sign-in links work once, for 10 minutes.');
      } else {
        failed('We could not sign you in.', describe(err));
      }
    }
  });
}
