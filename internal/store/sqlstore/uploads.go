package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"pochta/internal/store"
)

// The backends keep an upload's content apart (sqlite: a file, postgres:
// a bytea column); its row and the account's cap are shared here.

// NewUploadID is "u" and 128 random bits: unguessable, unique in the store.
func NewUploadID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "u" + hex.EncodeToString(b[:]), nil
}

// AddUpload adds up's row in the write transaction tx: store.ErrNotFound
// for an unknown account, store.ErrOverQuota when the account's unexpired
// uploads would hold more than maxHeld bytes. lock is appended to the
// query of the account row (" FOR UPDATE" keeps the cap across nodes
// uploading at once); data, unless a nil interface, goes to the row's data
// column (postgres passes its []byte, sqlite nil: the content is a file).
func AddUpload(ctx context.Context, tx DB, up store.Upload, maxHeld int64, lock string, data any) error {
	ok, err := Exists(ctx, tx, "SELECT 1 FROM accounts WHERE id = ?"+lock, up.AccountID)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: account %d", store.ErrNotFound, up.AccountID)
	}
	var held int64
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(sum(size), 0) FROM uploads WHERE account_id = ? AND expires > ?",
		up.AccountID, up.Created.UnixNano()).Scan(&held); err != nil {
		return err
	}
	if held+up.Size > maxHeld {
		return fmt.Errorf("%w: uploads of account %d hold %d bytes", store.ErrOverQuota, up.AccountID, held)
	}
	cols, vals := "id, account_id, type, size, created, expires", "?, ?, ?, ?, ?, ?"
	args := []any{up.ID, up.AccountID, up.Type, up.Size, up.Created.UnixNano(), up.Expires.UnixNano()}
	if data != nil {
		cols, vals, args = cols+", data", vals+", ?", append(args, data)
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO uploads("+cols+") VALUES ("+vals+")", args...)
	return err
}
