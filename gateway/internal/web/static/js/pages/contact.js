// Contact form. The hidden "website" field is a honeypot: people never see
// it, bots fill it, and the server drops those messages silently.
import { api, describe } from '../api.js';
import { $, alertBox, busy, formData, h, markInvalid, replace } from '../ui.js';
import { currentUser } from '../session.js';

export default function contact() {
  const form = $('[data-contact-form]');
  const errorBox = $('[data-form-error]');
  currentUser().then((u) => {
    if (!u) return;
    if (!form.email.value) form.email.value = u.email || '';
    if (!form.name.value) form.name.value = u.displayName || '';
  }).catch(() => {});
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(errorBox);
    const body = formData(form);
    const missing = ['name', 'email', 'message'].filter((k) => !String(body[k] || '').trim() || !form[k].checkValidity());
    markInvalid(form, missing.map((field) => ({ field })));
    if (missing.length) {
      replace(errorBox, alertBox('error', 'Please fill in your name, a valid email and your message.'));
      form[missing[0]].focus();
      return;
    }
    const button = form.querySelector('button[type=submit]');
    busy(button, true);
    try {
      await api('/v1/contact', { method: 'POST', body });
      const done = h('div', { class: 'center', tabindex: '-1' },
        h('h2', { class: 'h3' }, 'Thank you — your message is on its way.'),
        h('p', {}, `We will answer at ${body.email}, usually within one working day.`),
        h('a', { class: 'button button-secondary', href: '/' }, 'Back to the home page'));
      form.replaceWith(done);
      done.focus();
    } catch (err) {
      markInvalid(form, err.violations);
      replace(errorBox, alertBox('error', 'Your message was not sent.', describe(err)));
      busy(button, false);
    }
  });
}
