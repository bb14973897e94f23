// Package checkout sells credit packs: it starts checkouts with the payment
// provider, and fulfils paid purchases exactly once, whether the news comes
// from a Stripe webhook or from the test-mode confirmation. Fulfilment
// always re-reads the session from the provider, so the order and repetition
// of webhooks do not matter; the store's unique constraints (one event id,
// one grant per purchase) make each effect happen once.
package checkout

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Pack is a credit pack on sale.
type Pack struct {
	ID          string
	Name        string
	Credits     int64
	Price       int64 // minor units of Currency
	Currency    string
	Description string
}

// DefaultPacks are on sale unless BILLING_PACKS says otherwise.
func DefaultPacks() []Pack {
	return []Pack{
		{ID: "starter", Name: "Starter", Credits: 20, Price: 900, Currency: "usd", Description: "20 studio shots"},
		{ID: "studio", Name: "Studio", Credits: 60, Price: 2400, Currency: "usd", Description: "60 studio shots"},
		{ID: "catalogue", Name: "Catalogue", Credits: 150, Price: 4900, Currency: "usd", Description: "150 studio shots"},
	}
}

// ParsePacks reads "id:Name:credits:price:currency,…", e.g.
// "starter:Starter:20:900:usd". Packs are returned cheapest first.
func ParsePacks(s string) ([]Pack, error) {
	var packs []Pack
	seen := map[string]bool{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		f := strings.Split(item, ":")
		if len(f) != 5 {
			return nil, fmt.Errorf("pack %q: want id:name:credits:price:currency", item)
		}
		credits, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || credits <= 0 {
			return nil, fmt.Errorf("pack %q: credits must be a positive integer", item)
		}
		price, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil || price <= 0 {
			return nil, fmt.Errorf("pack %q: price must be a positive integer of minor units", item)
		}
		cur := strings.ToLower(f[4])
		if len(cur) != 3 {
			return nil, fmt.Errorf("pack %q: currency must be an ISO 4217 code", item)
		}
		if f[0] == "" || f[1] == "" || seen[f[0]] {
			return nil, fmt.Errorf("pack %q: id and name are required and ids unique", item)
		}
		seen[f[0]] = true
		packs = append(packs, Pack{ID: f[0], Name: f[1], Credits: credits, Price: price, Currency: cur,
			Description: fmt.Sprintf("%d studio shots", credits)})
	}
	if len(packs) == 0 {
		return nil, fmt.Errorf("no packs in %q", s)
	}
	slices.SortStableFunc(packs, func(a, b Pack) int { return int(a.Price - b.Price) })
	return packs, nil
}
