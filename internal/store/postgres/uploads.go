package postgres

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"pochta/internal/store"
	"pochta/internal/store/sqlstore"
)

// This file implements store.Uploads: each upload is a row with its
// content (bytea), so that every node finds it and none keeps a file
// (RFC 8620 §6.1: kept at least an hour).

// PutUpload implements store.Uploads. A bytea value is sent whole, so the
// content is read into memory (at most lim.MaxSize+1 bytes).
func (s *Store) PutUpload(ctx context.Context, accountID int64, typ string, r io.Reader, lim store.UploadLimits) (store.Upload, bool, error) {
	id, err := sqlstore.NewUploadID()
	if err != nil {
		return store.Upload{}, false, err
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, lim.MaxSize+1))
	if err != nil || n > lim.MaxSize {
		return store.Upload{}, n > lim.MaxSize, err
	}
	now := time.Now()
	up := store.Upload{ID: id, AccountID: accountID, Type: typ, Size: n,
		Created: now.UTC(), Expires: now.Add(lim.TTL).UTC()}
	err = s.write(ctx, func(tx *wtx, e *effects) error {
		// FOR UPDATE: the cap holds across nodes uploading at once.
		return sqlstore.AddUpload(bg, tx, up, lim.MaxHeld, " FOR UPDATE", buf.Bytes())
	})
	if err != nil {
		return store.Upload{}, false, dbErr(err)
	}
	return up, false, nil
}

// GetUpload implements store.Uploads.
func (s *Store) GetUpload(ctx context.Context, accountID int64, id string) (store.Upload, []byte, error) {
	up := store.Upload{ID: id, AccountID: accountID}
	var created, expires int64
	var data []byte
	err := s.rdb.QueryRowContext(ctx, "SELECT type, size, created, expires, data FROM uploads WHERE id = ? AND account_id = ? AND expires > ?",
		id, accountID, nowNano()).Scan(&up.Type, &up.Size, &created, &expires, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Upload{}, nil, fmt.Errorf("%w: upload %s", store.ErrNotFound, id)
	}
	if err != nil {
		return store.Upload{}, nil, dbErr(err)
	}
	up.Created, up.Expires = fromNano(created), fromNano(expires)
	return up, data, nil
}

// RemoveExpiredUploads implements store.Uploads.
func (s *Store) RemoveExpiredUploads(ctx context.Context, now time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *wtx, e *effects) error {
		res, err := tx.ExecContext(bg, "DELETE FROM uploads WHERE expires <= ?", now.UnixNano())
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	return int(n), dbErr(err)
}
