package sqlstore

import "pochta/internal/store"

// AccountCols are the columns ScanAccount reads, in its order.
const AccountCols = "id, address, password_hash, quota, created"

// ScanAccount reads a row of AccountCols.
func ScanAccount(sc interface{ Scan(...any) error }) (store.Account, error) {
	var a store.Account
	var created int64
	err := sc.Scan(&a.ID, &a.Address, &a.PasswordHash, &a.QuotaBytes, &created)
	a.Created = fromNano(created)
	return a, err
}
