// Credits: balance, packs and checkout, history with job references, and
// billing details.
import { api, ApiError, describe, int } from '../api.js';
import { $, alertBox, busy, h, money, notice, plural, replace, timeEl } from '../ui.js';
import { onBalance, refreshBalance, requireUser } from '../session.js';

const KIND = {
  TRANSACTION_KIND_GRANT_TRIAL: 'Trial credits',
  TRANSACTION_KIND_GRANT_PURCHASE: 'Purchase',
  TRANSACTION_KIND_GRANT_ADMIN: 'Granted by support',
  TRANSACTION_KIND_GRANT_PROMO: 'Promotion',
  TRANSACTION_KIND_RESERVE: 'Held for a job',
  TRANSACTION_KIND_CAPTURE: 'Charged for images',
  TRANSACTION_KIND_RELEASE: 'Returned',
  TRANSACTION_KIND_EXPIRE: 'Hold expired, returned',
  TRANSACTION_KIND_REFUND: 'Refund',
  TRANSACTION_KIND_FORFEIT: 'Forfeited',
};

export default async function credits() {
  await requireUser();
  const purchased = new URLSearchParams(location.search).get('purchased');
  if (purchased !== null) {
    notice('ok', 'Thank you — your credits are in.', Number(purchased) > 0 ? `${plural(Number(purchased), 'credit')} added to your balance.` : '');
    history.replaceState(null, '', location.pathname);
  }
  onBalance((b) => {
    $('[data-available]').textContent = b.available.toLocaleString();
    $('[data-held]').textContent = b.held ? `${plural(b.held, 'credit')} held for running jobs.` : 'No credits are held for running jobs.';
  });
  refreshBalance().catch((err) => replace($('[data-credits-notice]'), alertBox('error', 'Your balance could not be loaded.', describe(err))));
  loadPacks();
  loadHistory();
  loadDetails();
}

async function loadPacks() {
  const box = $('[data-packs]');
  let packs;
  try {
    packs = (await api('/v1/billing/packs')).packs || [];
  } catch (err) {
    replace(box, alertBox('error', 'Packs could not be loaded.', describe(err)));
    return;
  }
  if (!packs.length) {
    replace(box, h('p', { class: 'muted' }, 'No packs are on sale right now.'));
    return;
  }
  replace(box, packs.map((p) => {
    const credits = int(p.credits);
    const price = int(p.priceAmount);
    const button = h('button', { type: 'button', class: 'button', 'aria-label': `Buy ${p.name}, ${plural(credits, 'credit')} for ${money(price, p.currency)}` }, `Buy for ${money(price, p.currency)}`);
    button.addEventListener('click', () => buy(p, button));
    return h('div', { class: 'pack' },
      h('h3', {}, p.name),
      h('p', { class: 'pack-credits' }, plural(credits, 'credit')),
      h('p', { class: 'muted small' }, p.description || `${money(Math.round(price / Math.max(credits, 1)), p.currency)} per image`),
      button);
  }));
}

async function buy(pack, button) {
  busy(button, true);
  try {
    const r = await api('/v1/billing/checkout-sessions', { method: 'POST', body: { packId: pack.id } });
    location.assign(r.url);
  } catch (err) {
    busy(button, false);
    replace($('[data-credits-notice]'), alertBox('error', 'Checkout could not start.', describe(err)));
  }
}

let historyToken = '';

async function loadHistory(more = false) {
  const box = $('[data-history]');
  const moreButton = $('[data-history-more]');
  let r;
  try {
    r = await api('/v1/billing/transactions?pageSize=20' + (more ? '&pageToken=' + encodeURIComponent(historyToken) : ''));
  } catch (err) {
    replace(box, alertBox('error', 'Your history could not be loaded.', describe(err)));
    return;
  }
  const txs = r.transactions || [];
  historyToken = r.nextPageToken || '';
  moreButton.hidden = !historyToken;
  if (!more) {
    if (!txs.length) {
      replace(box, h('div', { class: 'empty' }, h('p', {}, 'No transactions yet.')));
      return;
    }
    replace(box, h('div', { class: 'table-wrap' }, h('table', { class: 'table table-history' },
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Date'), h('th', { scope: 'col' }, 'What'), h('th', { scope: 'col' }, 'Reference'),
        h('th', { scope: 'col', class: 'num' }, 'Available'), h('th', { scope: 'col', class: 'num' }, 'Held'))),
      h('tbody', { 'data-history-rows': '' }))));
  }
  $('[data-history-rows]').append(...txs.map(row));
  if (!moreButton.dataset.wired) {
    moreButton.dataset.wired = '1';
    moreButton.addEventListener('click', () => loadHistory(true));
  }
}

function delta(n) {
  if (!n) return h('span', { class: 'muted' }, '0');
  return h('span', { class: n > 0 ? 'pos' : 'neg' }, (n > 0 ? '+' : '−') + Math.abs(n).toLocaleString());
}

function row(t) {
  let ref = '';
  if (t.jobId) ref = h('a', { href: '/studio?job=' + encodeURIComponent(t.jobId), class: 'mono small' }, 'Job ' + t.jobId.slice(0, 8));
  else if (t.purchaseId) ref = h('span', { class: 'mono small' }, 'Purchase ' + t.purchaseId.slice(0, 8));
  const what = KIND[t.kind] || 'Adjustment';
  // The ledger's description adds what the kind does not say; "trial
  // credits" under "Trial credits" says nothing.
  const note = t.description && t.description.toLowerCase() !== what.toLowerCase() ? t.description : '';
  return h('tr', {},
    h('td', {}, timeEl(t.createTime)),
    h('td', {}, h('div', {}, what), note ? h('div', { class: 'muted small' }, note) : null),
    h('td', {}, ref),
    h('td', { class: 'num' }, delta(int(t.availableDelta))),
    h('td', { class: 'num' }, delta(int(t.heldDelta))));
}

async function loadDetails() {
  const box = $('[data-details]');
  try {
    const d = (await api('/v1/billing/details')).details || {};
    const a = d.address || {};
    const address = [a.line1, a.line2, [a.postalCode, a.city].filter(Boolean).join(' '), a.state, a.country].filter(Boolean);
    if (!d.name && !d.cardLast4 && !address.length) {
      replace(box, h('p', { class: 'muted' }, 'Nothing yet. Your billing name, address and card appear here after your first purchase.'));
      return;
    }
    replace(box, h('dl', { class: 'details-list' },
      d.name ? [h('dt', { class: 'muted small' }, 'Name'), h('dd', {}, d.name)] : null,
      d.email ? [h('dt', { class: 'muted small' }, 'Email'), h('dd', {}, d.email)] : null,
      address.length ? [h('dt', { class: 'muted small' }, 'Address'), h('dd', {}, address.join(', '))] : null,
      d.cardLast4 ? [h('dt', { class: 'muted small' }, 'Card'), h('dd', {}, `${(d.cardBrand || 'Card').toUpperCase()} ending ${d.cardLast4}`)] : null));
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      replace(box, h('p', { class: 'muted' }, 'Nothing yet.'));
      return;
    }
    replace(box, alertBox('error', 'Billing details could not be loaded.', describe(err)));
  }
}
