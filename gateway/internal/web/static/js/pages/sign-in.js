// Sign-in: ask for a magic link, or sign in with a password.
import { api, ApiError, describe } from '../api.js';
import { $, alertBox, busy, replace } from '../ui.js';
import { currentUser, safeNext } from '../session.js';

export default async function signIn() {
  const errorBox = $('[data-form-error]');
  const magic = $('[data-magic-form]');
  const password = $('[data-password-form]');
  const next = safeNext();

  currentUser().then((u) => { if (u) location.replace(next); }).catch(() => {});
  $('#email').focus();

  magic.addEventListener('submit', async (e) => {
    e.preventDefault();
    const email = magic.email.value.trim();
    replace(errorBox);
    if (!magic.email.checkValidity() || !email) {
      magic.email.setAttribute('aria-invalid', 'true');
      replace(errorBox, alertBox('error', 'Enter a valid email address.'));
      magic.email.focus();
      return;
    }
    magic.email.removeAttribute('aria-invalid');
    const button = magic.querySelector('button[type=submit]');
    busy(button, true);
    try {
      await api('/v1/auth/magic-links', { method: 'POST', body: { email } });
      sessionStorage.setItem('ps-sign-in-email', email);
      sessionStorage.setItem('ps-sign-in-next', next);
      location.assign('/check-email?email=' + encodeURIComponent(email));
    } catch (err) {
      replace(errorBox, alertBox('error', 'We could not send the link.', describe(err)));
      busy(button, false);
    }
  });

  password.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(errorBox);
    const body = { email: password.email.value.trim(), password: password.password.value };
    if (!body.email || !body.password) {
      replace(errorBox, alertBox('error', 'Enter your email and password.'));
      return;
    }
    const button = password.querySelector('button[type=submit]');
    busy(button, true);
    try {
      await api('/v1/auth/password-sessions', { method: 'POST', body });
      location.assign(next);
    } catch (err) {
      const wrong = err instanceof ApiError && [400, 401, 404].includes(err.status);
      replace(errorBox, alertBox('error', wrong ? 'That email and password do not match.' : 'We could not sign you in.',
        wrong ? 'Check both, or sign in with an email link instead.' : describe(err)));
      busy(button, false);
      password.password.focus();
    }
  });
}
