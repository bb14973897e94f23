// Cookie consent. Essential cookies (the session, this choice) are always
// on; analytics cookies only after "Allow analytics". Google's tags are not
// requested at all before that, and never when the server configured none.

const COOKIE = 'ps_consent';

function readChoice() {
  const m = document.cookie.match(/(?:^|;\s*)ps_consent=([^;]*)/);
  return m ? decodeURIComponent(m[1]) : '';
}

function writeChoice(value) {
  const secure = location.protocol === 'https:' ? '; Secure' : '';
  document.cookie = `${COOKIE}=${encodeURIComponent(value)}; Path=/; Max-Age=${60 * 60 * 24 * 365}; SameSite=Lax${secure}`;
}

function meta(name) {
  const el = document.querySelector(`meta[name="${name}"]`);
  return el ? el.content : '';
}

let loaded = false;

function loadTags() {
  if (loaded) return;
  const ga = meta('ps-ga-id');
  const gtm = meta('ps-gtm-id');
  if (!ga && !gtm) return;
  loaded = true;
  window.dataLayer = window.dataLayer || [];
  if (gtm) {
    window.dataLayer.push({ 'gtm.start': Date.now(), event: 'gtm.js' });
    const s = document.createElement('script');
    s.async = true;
    s.src = `https://www.googletagmanager.com/gtm.js?id=${encodeURIComponent(gtm)}`;
    document.head.append(s);
  }
  if (ga) {
    // gtag() must push the arguments object itself, as Google's snippet does.
    window.gtag = function gtag() { window.dataLayer.push(arguments); }; // eslint-disable-line prefer-rest-params
    window.gtag('js', new Date());
    window.gtag('config', ga, { anonymize_ip: true });
    const s = document.createElement('script');
    s.async = true;
    s.src = `https://www.googletagmanager.com/gtag/js?id=${encodeURIComponent(ga)}`;
    document.head.append(s);
  }
}

/** initConsent shows the banner until a choice is made, and honours it. */
export function initConsent() {
  const banner = document.querySelector('[data-cookie-banner]');
  if (!banner) return; // analytics not configured: only essential cookies exist
  const choice = readChoice();
  if (choice === 'analytics') loadTags();
  else if (choice !== 'essential') banner.hidden = false;
  for (const button of banner.querySelectorAll('[data-consent]')) {
    button.addEventListener('click', () => {
      const value = button.dataset.consent;
      const wasOn = readChoice() === 'analytics';
      writeChoice(value);
      banner.hidden = true;
      if (value === 'analytics') loadTags();
      else if (wasOn) location.reload(); // unload tags already running
    });
  }
  const settings = document.querySelector('[data-cookie-settings]');
  if (settings) {
    settings.addEventListener('click', () => {
      banner.hidden = false;
      banner.querySelector('[data-consent]').focus();
    });
  }
}
