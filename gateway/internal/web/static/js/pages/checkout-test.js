// The test-mode checkout page: completes a purchase with no card, through
// the same fulfilment as a real payment. Only offered when no payment
// provider is configured (billing refuses it otherwise).
import { api, ApiError, describe, int } from '../api.js';
import { $, alertBox, busy, replace } from '../ui.js';
import { requireUser } from '../session.js';

export default async function checkoutTest() {
  await requireUser();
  const purchaseId = decodeURIComponent(location.pathname.split('/').pop() || '');
  $('[data-purchase-id]').textContent = purchaseId;
  const button = $('[data-confirm-test]');
  button.addEventListener('click', async () => {
    busy(button, true);
    replace($('[data-form-error]'));
    try {
      const r = await api(`/v1/billing/checkout-sessions/${encodeURIComponent(purchaseId)}:confirmTest`, { method: 'POST', body: {} });
      const credits = int(r.purchase && r.purchase.credits);
      location.assign('/credits?purchased=' + credits);
    } catch (err) {
      busy(button, false);
      const why = err instanceof ApiError && err.status === 412
        ? 'Test purchases are switched off on this server, or this purchase is already complete.'
        : describe(err, 'This purchase');
      replace($('[data-form-error]'), alertBox('error', 'The purchase was not completed.', why));
    }
  });
}
