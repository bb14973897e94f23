// Settings: profile and preferences, password, sessions, API keys, data
// export with progress, and account deletion with a typed confirmation.
import { api, ApiError, describe, int } from '../api.js';
import { $, alertBox, busy, bytes, confirmDialog, h, markInvalid, replace, timeEl, toast } from '../ui.js';
import { requireUser } from '../session.js';

const CONFIRMATION = 'delete my account';

export default async function settings() {
  const user = await requireUser();
  profile(user);
  password(user);
  sessions();
  apiKeys();
  exportData();
  deleteAccount();
}

function profile(user) {
  const form = $('[data-profile-form]');
  const prefs = user.preferences || {};
  form.displayName.value = user.displayName || '';
  $('#account-email').value = user.email || '';
  form.defaultAspectRatio.value = prefs.defaultAspectRatio || '';
  form.defaultSize.value = prefs.defaultSize || '';
  form.emailNotifications.checked = Boolean(prefs.emailNotifications);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const status = $('[data-profile-status]');
    replace(status);
    const button = form.querySelector('button[type=submit]');
    busy(button, true);
    try {
      // No update mask: the gateway derives it from the fields sent.
      await api('/v1/me', {
        method: 'PATCH',
        body: {
          displayName: form.displayName.value.trim(),
          preferences: {
            defaultAspectRatio: form.defaultAspectRatio.value,
            defaultSize: form.defaultSize.value,
            emailNotifications: form.emailNotifications.checked,
          },
        },
      });
      markInvalid(form, []);
      toast('Profile saved.');
    } catch (err) {
      markInvalid(form, err.violations);
      replace(status, alertBox('error', 'Your profile was not saved.', describe(err)));
    } finally {
      busy(button, false);
    }
  });
}

function password(user) {
  const form = $('[data-password-form]');
  const setIntro = (has) => {
    $('[data-current-password]').hidden = !has;
    $('[data-password-intro]').textContent = has
      ? 'You can sign in with your password or an email link.'
      : 'A password is optional: you can always sign in with an email link.';
    form.querySelector('button[type=submit]').textContent = has ? 'Change password' : 'Set password';
  };
  setIntro(user.hasPassword);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const status = $('[data-password-status]');
    replace(status);
    const newPassword = form.newPassword.value;
    if (newPassword.length < 10) {
      markInvalid(form, [{ field: 'newPassword' }]);
      replace(status, alertBox('error', 'Use at least 10 characters.'));
      form.newPassword.focus();
      return;
    }
    if (newPassword !== form.confirmPassword.value) {
      markInvalid(form, [{ field: 'confirmPassword' }]);
      replace(status, alertBox('error', 'The two passwords do not match.'));
      form.confirmPassword.focus();
      return;
    }
    markInvalid(form, []);
    const button = form.querySelector('button[type=submit]');
    busy(button, true);
    try {
      await api('/v1/me/password', { method: 'PUT', body: { currentPassword: form.currentPassword.value, newPassword } });
      form.reset();
      user.hasPassword = true;
      setIntro(true);
      replace(status, alertBox('ok', 'Password saved.', 'Your other sessions were signed out.'));
      sessions();
    } catch (err) {
      markInvalid(form, err.violations);
      const wrong = err instanceof ApiError && (err.status === 401 || (err.status === 400 && err.violations.some((v) => /current/.test(v.field))));
      replace(status, alertBox('error', wrong ? 'Your current password is not right.' : 'Your password was not saved.', wrong ? '' : describe(err)));
    } finally {
      busy(button, false);
    }
  });
}

async function sessions() {
  const box = $('[data-sessions]');
  let list;
  try {
    list = (await api('/v1/sessions?pageSize=50')).sessions || [];
  } catch (err) {
    replace(box, alertBox('error', 'Sessions could not be loaded.', describe(err)));
    return;
  }
  replace(box, h('ul', { class: 'list' }, list.map((s) => {
    const revoke = s.current ? h('span', { class: 'badge badge-ok' }, 'This browser')
      : h('button', { type: 'button', class: 'button button-secondary button-small' }, 'Revoke');
    if (!s.current) {
      revoke.addEventListener('click', async () => {
        busy(revoke, true);
        try {
          await api('/v1/sessions/' + encodeURIComponent(s.id), { method: 'DELETE' });
          toast('Session revoked.');
          sessions();
        } catch (err) {
          busy(revoke, false);
          replace(box, alertBox('error', 'The session was not revoked.', describe(err)));
        }
      });
    }
    return h('li', { class: 'list-item' },
      h('div', { class: 'list-item-main' },
        h('p', {}, h('strong', {}, browserName(s.userAgent))),
        h('p', { class: 'muted small' }, [s.ipAddress, 'signed in '].filter(Boolean).join(' · '), timeEl(s.createTime),
          s.lastSeenTime ? [' · last active ', timeEl(s.lastSeenTime)] : null)),
      revoke);
  })));
  const all = $('[data-revoke-all]');
  if (!all.dataset.wired) {
    all.dataset.wired = '1';
    all.addEventListener('click', async () => {
      const ok = await confirmDialog({ title: 'Sign out everywhere?', body: 'Every browser and device, including this one, will be signed out. API keys keep working.', confirm: 'Sign out everywhere', danger: true });
      if (!ok) return;
      busy(all, true);
      try {
        await api('/v1/sessions:revokeAll', { method: 'POST', body: {} });
        location.assign('/sign-in?signed-out=1');
      } catch (err) {
        busy(all, false);
        replace(box, alertBox('error', 'We could not sign you out everywhere.', describe(err)));
      }
    });
  }
}

function browserName(ua = '') {
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrom(e|ium)\//.test(ua) ? 'Chrome'
    : /Safari\//.test(ua) ? 'Safari' : ua ? 'Browser' : 'Unknown device';
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS X/.test(ua) ? 'macOS'
    : /Windows/.test(ua) ? 'Windows' : /Linux/.test(ua) ? 'Linux' : '';
  return os ? `${browser} on ${os}` : browser;
}

async function apiKeys() {
  const box = $('[data-keys]');
  const form = $('[data-key-form]');
  const load = async () => {
    let keys;
    try {
      keys = (await api('/v1/api-keys?pageSize=50')).apiKeys || [];
    } catch (err) {
      replace(box, alertBox('error', 'API keys could not be loaded.', describe(err)));
      return;
    }
    if (!keys.length) {
      replace(box, h('p', { class: 'muted' }, 'No API keys yet.'));
      return;
    }
    replace(box, h('ul', { class: 'list', 'data-key-list': '' }, keys.map((k) => {
      const revoke = h('button', { type: 'button', class: 'button button-secondary button-small', 'aria-label': `Revoke key ${k.name}` }, 'Revoke');
      revoke.addEventListener('click', async () => {
        const ok = await confirmDialog({ title: `Revoke "${k.name}"?`, body: 'Anything using this key stops working at once.', confirm: 'Revoke', danger: true });
        if (!ok) return;
        busy(revoke, true);
        try {
          await api('/v1/api-keys/' + encodeURIComponent(k.id), { method: 'DELETE' });
          toast('Key revoked.');
          load();
        } catch (err) {
          busy(revoke, false);
          replace(box, alertBox('error', 'The key was not revoked.', describe(err)));
        }
      });
      return h('li', { class: 'list-item' },
        h('div', { class: 'list-item-main' },
          h('p', {}, h('strong', {}, k.name), ' ', h('code', {}, (k.prefix || 'ps_') + '…')),
          h('p', { class: 'muted small' }, 'Created ', timeEl(k.createTime, { day: true }), ' · ',
            k.lastUsedTime ? ['last used ', timeEl(k.lastUsedTime)] : 'never used')),
        revoke);
    })));
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = form.name.value.trim();
    if (!name) {
      markInvalid(form, [{ field: 'name' }]);
      form.name.focus();
      return;
    }
    markInvalid(form, []);
    const button = form.querySelector('button[type=submit]');
    busy(button, true);
    try {
      const r = await api('/v1/api-keys', { method: 'POST', body: { name } });
      form.reset();
      const code = h('code', { 'data-secret': '' }, r.secret);
      const copy = h('button', { type: 'button', class: 'button button-small' }, 'Copy');
      copy.addEventListener('click', async () => {
        try { await navigator.clipboard.writeText(r.secret); toast('Copied.'); } catch { toast('Select the key and copy it.'); }
      });
      const shown = alertBox('warn', 'Copy your new key now — it is shown only once.',
        h('div', { class: 'secret-box' }, code, copy));
      replace($('[data-new-key]'), shown);
      code.focus();
      load();
    } catch (err) {
      replace($('[data-new-key]'), alertBox('error', 'The key was not created.', describe(err)));
    } finally {
      busy(button, false);
    }
  });
  load();
}

const EXPORT_KEY = 'ps-export-id';
const EXPORT_TEXT = {
  EXPORT_STATE_PENDING: 'Queued — we will start in a moment.',
  EXPORT_STATE_RUNNING: 'Collecting your data from every part of the service…',
};

function exportData() {
  const button = $('[data-export]');
  const status = $('[data-export-status]');
  let timer;
  const show = (exp) => {
    clearTimeout(timer);
    if (exp.state === 'EXPORT_STATE_SUCCEEDED') {
      localStorage.removeItem(EXPORT_KEY);
      busy(button, false);
      replace(status, alertBox('ok', 'Your export is ready.',
        h('p', {}, h('a', { class: 'button button-small', href: exp.downloadUrl, download: '' }, 'Download zip'),
          ' ', h('span', { class: 'muted small' }, [bytes(int(exp.sizeBytes)), exp.expireTime ? 'link expires ' : ''].filter(Boolean).join(' · ')),
          exp.expireTime ? timeEl(exp.expireTime) : null)));
      return;
    }
    if (exp.state === 'EXPORT_STATE_EXPIRED') {
      localStorage.removeItem(EXPORT_KEY);
      busy(button, false);
      replace(status, alertBox('info', 'That export has expired.', 'Exports are deleted after 7 days. Start a new one to download your data.'));
      return;
    }
    if (exp.state === 'EXPORT_STATE_FAILED') {
      localStorage.removeItem(EXPORT_KEY);
      busy(button, false);
      replace(status, alertBox('error', 'The export failed.', 'Please try again. If it keeps failing, contact us.'));
      return;
    }
    busy(button, true);
    replace(status, alertBox('info', 'Preparing your export…', h('div', { class: 'progress-bar is-indeterminate', role: 'progressbar', 'aria-label': 'Export progress' }, h('span')),
      h('p', { class: 'small' }, EXPORT_TEXT[exp.state] || 'Working…', ' We will also email you when it is ready.')));
    timer = setTimeout(() => poll(exp.id), 1500);
  };
  const poll = async (id) => {
    try {
      show((await api('/v1/exports/' + encodeURIComponent(id))).export || {});
    } catch (err) {
      localStorage.removeItem(EXPORT_KEY);
      busy(button, false);
      replace(status, alertBox('error', 'We lost track of the export.', describe(err, 'The export')));
    }
  };
  button.addEventListener('click', async () => {
    busy(button, true);
    try {
      const exp = (await api('/v1/me:export', { method: 'POST', body: {} })).export || {};
      localStorage.setItem(EXPORT_KEY, exp.id);
      show(exp);
    } catch (err) {
      busy(button, false);
      replace(status, alertBox('error', 'The export could not start.', describe(err, 'Data export')));
    }
  });
  const pending = localStorage.getItem(EXPORT_KEY);
  if (pending) poll(pending);
}

function deleteAccount() {
  const form = $('[data-delete-form]');
  const button = $('[data-delete-button]');
  form.confirmation.addEventListener('input', () => {
    button.disabled = form.confirmation.value.trim().toLowerCase() !== CONFIRMATION;
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const confirmation = form.confirmation.value.trim().toLowerCase();
    if (confirmation !== CONFIRMATION) return;
    busy(button, true);
    try {
      await api('/v1/me', { method: 'DELETE', body: { confirmation } });
      location.assign('/?deleted=1');
    } catch (err) {
      busy(button, false);
      replace($('[data-delete-status]'), alertBox('error', 'Your account was not deleted.', describe(err)));
    }
  });
}
