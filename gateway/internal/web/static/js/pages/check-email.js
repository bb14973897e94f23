// "Check your email", with a resend button.
import { api, describe } from '../api.js';
import { $, alertBox, busy, replace, toast } from '../ui.js';

export default function checkEmail() {
  const email = new URLSearchParams(location.search).get('email') || sessionStorage.getItem('ps-sign-in-email') || '';
  if (email) $('[data-email]').textContent = email;
  const resend = $('[data-resend]');
  if (!email) resend.hidden = true;
  resend.addEventListener('click', async () => {
    busy(resend, true);
    replace($('[data-form-error]'));
    try {
      await api('/v1/auth/magic-links', { method: 'POST', body: { email } });
      toast('We sent another link.');
    } catch (err) {
      replace($('[data-form-error]'), alertBox('error', 'We could not send another link.', describe(err)));
    } finally {
      busy(resend, false);
    }
  });
}
