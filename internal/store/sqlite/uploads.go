package sqlite

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"pochta/internal/store"
	"pochta/internal/store/sqlstore"
)

// This file implements store.Uploads: a row per upload in the database,
// its content in a file of the store's "uploads" folder, so that uploads
// outlive a restart (RFC 8620 §6.1: kept at least an hour).

// validUploadID says whether id can name an upload's file.
func validUploadID(id string) bool {
	if len(id) != 33 || id[0] != 'u' {
		return false
	}
	_, err := hex.DecodeString(id[1:])
	return err == nil
}

func (s *Store) uploadPath(id string) string {
	return filepath.Join(s.dir, "uploads", id)
}

// PutUpload implements store.Uploads. The content goes to its file first,
// made durable with the commit that adds its row.
func (s *Store) PutUpload(ctx context.Context, accountID int64, typ string, r io.Reader, lim store.UploadLimits) (store.Upload, bool, error) {
	id, err := sqlstore.NewUploadID()
	if err != nil {
		return store.Upload{}, false, err
	}
	path := s.uploadPath(id)
	if err := s.ensureDir(filepath.Dir(path)); err != nil {
		return store.Upload{}, false, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return store.Upload{}, false, fmt.Errorf("sqlite store: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(r, lim.MaxSize+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil || n > lim.MaxSize {
		os.Remove(path)
		return store.Upload{}, n > lim.MaxSize, noSpace(err)
	}
	now := time.Now()
	up := store.Upload{ID: id, AccountID: accountID, Type: typ, Size: n, Created: now.UTC(), Expires: now.Add(lim.TTL).UTC()}
	err = s.write(ctx, []string{path}, func(tx *wtx, e *effects) error {
		return sqlstore.AddUpload(bg, tx, up, lim.MaxHeld, "", nil)
	})
	if err != nil {
		os.Remove(path)
		return store.Upload{}, false, dbErr(err)
	}
	return up, false, nil
}

// GetUpload implements store.Uploads.
func (s *Store) GetUpload(ctx context.Context, accountID int64, id string) (store.Upload, []byte, error) {
	notFound := fmt.Errorf("%w: upload %s", store.ErrNotFound, id)
	if !validUploadID(id) {
		return store.Upload{}, nil, notFound
	}
	up := store.Upload{ID: id, AccountID: accountID}
	var created, expires int64
	err := s.rdb.QueryRowContext(ctx, "SELECT type, size, created, expires FROM uploads WHERE id = ? AND account_id = ? AND expires > ?",
		id, accountID, nowNano()).Scan(&up.Type, &up.Size, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Upload{}, nil, notFound
	}
	if err != nil {
		return store.Upload{}, nil, dbErr(err)
	}
	up.Created, up.Expires = fromNano(created), fromNano(expires)
	data, err := os.ReadFile(s.uploadPath(id))
	if errors.Is(err, fs.ErrNotExist) { // removed as expired meanwhile
		return store.Upload{}, nil, notFound
	}
	if err != nil {
		return store.Upload{}, nil, fmt.Errorf("sqlite store: %w", err)
	}
	return up, data, nil
}

// RemoveExpiredUploads implements store.Uploads. It also removes files
// without a row older than a day: left by a crash before their commit.
func (s *Store) RemoveExpiredUploads(ctx context.Context, now time.Time) (int, error) {
	var gone []string
	err := s.write(ctx, nil, func(tx *wtx, e *effects) error {
		gone = gone[:0]
		rows, err := tx.QueryContext(bg, "DELETE FROM uploads WHERE expires <= ? RETURNING id", now.UnixNano())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			gone = append(gone, id)
		}
		return rows.Err()
	})
	if err != nil {
		return 0, dbErr(err)
	}
	for _, id := range gone {
		os.Remove(s.uploadPath(id))
	}
	return len(gone), s.removeOrphanUploads(ctx, now.Add(-24*time.Hour))
}

// removeOrphanUploads removes upload files older than before that no row
// names.
func (s *Store) removeOrphanUploads(ctx context.Context, before time.Time) error {
	entries, err := os.ReadDir(filepath.Join(s.dir, "uploads"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite store: %w", err)
	}
	for _, ent := range entries {
		info, err := ent.Info()
		if err != nil || !info.ModTime().Before(before) {
			continue
		}
		var n int
		if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM uploads WHERE id = ?", ent.Name()).Scan(&n); err != nil {
			return dbErr(err)
		}
		if n == 0 {
			os.Remove(filepath.Join(s.dir, "uploads", ent.Name()))
		}
	}
	return nil
}
