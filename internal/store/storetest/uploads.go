package storetest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"pochta/internal/store"
)

// testUploads: an upload is found by its account (not another's) with its
// type and content until it expires; one above MaxSize is refused as too
// large, one that would take the account's uploads beyond MaxHeld with
// ErrOverQuota (other accounts unaffected), and neither is kept;
// RemoveExpiredUploads removes exactly the expired ones; an empty upload
// is kept like any other.
func testUploads(t *testing.T, e *env) {
	us, ok := e.s.(store.Uploads)
	if !ok {
		t.Fatalf("%T does not implement store.Uploads", e.s)
	}
	a := e.account("kate@example.org")
	b := e.account("bob@example.org")
	lim := store.UploadLimits{MaxSize: 1000, MaxHeld: 2500, TTL: time.Hour}
	put := func(acct int64, content string, lim store.UploadLimits) (store.Upload, bool, error) {
		t.Helper()
		return us.PutUpload(e.ctx, acct, "text/plain", strings.NewReader(content), lim)
	}
	content := strings.Repeat("x", 1000)
	up, tooLarge, err := put(a.ID, content, lim)
	e.must(err)
	if tooLarge || up.Size != 1000 || up.ID == "" || up.AccountID != a.ID || time.Until(up.Expires) < 59*time.Minute {
		t.Fatalf("PutUpload = %+v, tooLarge %v", up, tooLarge)
	}
	got, data, err := us.GetUpload(e.ctx, a.ID, up.ID)
	e.must(err)
	if got.Type != "text/plain" || got.Size != 1000 || !bytes.Equal(data, []byte(content)) {
		t.Fatalf("GetUpload = %+v, %d bytes", got, len(data))
	}
	_, _, err = us.GetUpload(e.ctx, b.ID, up.ID)
	e.wantErr(err, store.ErrNotFound)
	_, _, err = us.GetUpload(e.ctx, a.ID, "u00000000000000000000000000000000")
	e.wantErr(err, store.ErrNotFound)
	_, _, err = us.GetUpload(e.ctx, a.ID, "../../etc/passwd")
	e.wantErr(err, store.ErrNotFound)

	// Same content again: a new upload with its own id.
	up2, _, err := put(a.ID, content, lim)
	e.must(err)
	if up2.ID == up.ID {
		t.Fatalf("two uploads share id %s", up.ID)
	}
	if _, tooLarge, err := put(a.ID, content+"y", lim); !tooLarge || err != nil {
		t.Fatalf("upload above MaxSize: tooLarge %v, err %v", tooLarge, err)
	}
	// 2000 held + 1000 > 2500.
	_, _, err = put(a.ID, content, lim)
	e.wantErr(err, store.ErrOverQuota)
	if _, _, err := put(a.ID, "small", lim); err != nil {
		t.Fatalf("upload within the cap after a refusal: %v", err)
	}
	if _, _, err := put(b.ID, content, lim); err != nil {
		t.Fatalf("another account's upload: %v", err)
	}
	_, _, err = put(999999, "x", lim)
	e.wantErr(err, store.ErrNotFound)

	// Expired uploads are not found, do not count against the cap and
	// are removed by RemoveExpiredUploads.
	short := lim
	short.TTL = -time.Second
	old, _, err := put(b.ID, "old", short)
	e.must(err)
	_, _, err = us.GetUpload(e.ctx, b.ID, old.ID)
	e.wantErr(err, store.ErrNotFound)
	n, err := us.RemoveExpiredUploads(e.ctx, time.Now())
	e.must(err)
	if n != 1 {
		t.Fatalf("RemoveExpiredUploads(now) removed %d, want 1", n)
	}
	if _, _, err := us.GetUpload(e.ctx, a.ID, up.ID); err != nil {
		t.Fatalf("unexpired upload removed: %v", err)
	}
	n, err = us.RemoveExpiredUploads(e.ctx, time.Now().Add(2*time.Hour))
	e.must(err)
	if n != 4 { // kate's three and bob's one
		t.Fatalf("RemoveExpiredUploads(+2h) removed %d, want 4", n)
	}
	if _, _, err := put(a.ID, content, lim); err != nil {
		t.Fatalf("upload after the cleanup: %v", err)
	}
	// An empty file is an upload too.
	empty, _, err := put(b.ID, "", lim)
	e.must(err)
	got, data, err = us.GetUpload(e.ctx, b.ID, empty.ID)
	e.must(err)
	if got.Size != 0 || len(data) != 0 {
		t.Fatalf("empty upload read back as %+v, %d bytes", got, len(data))
	}
}
