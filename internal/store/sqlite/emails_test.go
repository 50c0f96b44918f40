package sqlite

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"pochta/internal/store"
)

// downgradeEmails undoes the JMAP identities migration, except the
// schema version (each chain sets its own).
var downgradeEmails = []string{
	"DROP INDEX messages_email",
	"DROP INDEX messages_thread",
	"ALTER TABLE messages DROP COLUMN email_id",
	"ALTER TABLE messages DROP COLUMN thread_id",
	"ALTER TABLE expunged DROP COLUMN email_id",
	"ALTER TABLE expunged DROP COLUMN thread_id",
	"DROP TABLE thread_keys",
	"DELETE FROM meta WHERE key = 'email_id'",
}

// TestMigrateEmailIDs upgrades a database from before Email ids: every
// message, and every expunge tombstone, gets a distinct id; new messages
// get ids above them; a move keeps the id.
func TestMigrateEmailIDs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	a := setupAccount(t, s)
	inbox, err := s.GetMailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := s.Deliver(ctx, strings.NewReader(fmt.Sprintf("Subject: old %d\r\n\r\nx\r\n", i)), []store.Target{{AccountID: a.ID}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.SetFlags(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 1}}, store.FlagsAdd, []string{`\Deleted`}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, inbox.ID, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	downgrade(t, dir, []string{fmt.Sprintf("PRAGMA user_version = %d", migrationIndex(t, "ADD COLUMN email_id"))})
	s = openTest(t, dir)
	defer s.Close()
	refs, err := s.EmailRefs(ctx, inbox.ID, []uint32{1, 2, 3})
	if err != nil || len(refs) != 3 {
		t.Fatalf("EmailRefs after migration: %v %v", refs, err)
	}
	seen := map[int64]bool{}
	for _, r := range refs {
		if r.EmailID == 0 || seen[r.EmailID] {
			t.Fatalf("ids after migration not distinct: %v", refs)
		}
		seen[r.EmailID] = true
	}
	d, err := s.Deliver(ctx, strings.NewReader("Subject: new\r\n\r\nx\r\n"), []store.Target{{AccountID: a.ID}})
	if err != nil {
		t.Fatal(err)
	}
	nr, err := s.EmailRefs(ctx, inbox.ID, []uint32{d[0].UID})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range refs {
		if nr[d[0].UID].EmailID <= r.EmailID {
			t.Fatalf("new id %d not above migrated %d", nr[d[0].UID].EmailID, r.EmailID)
		}
	}
	arch, err := s.GetMailbox(ctx, a.ID, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	pairs, err := s.Move(ctx, inbox.ID, store.UIDSet{{Start: 2, Stop: 2}}, arch.ID)
	if err != nil {
		t.Fatal(err)
	}
	moved, err := s.EmailRefs(ctx, arch.ID, []uint32{pairs[0].Dst})
	if err != nil || moved[pairs[0].Dst].EmailID != refs[2].EmailID {
		t.Fatalf("moved message's id %v, want %d (%v)", moved, refs[2].EmailID, err)
	}
	checkConsistency(t, s)
}

// migrationIndex is the schema version just before the migration that
// contains text: downgrading to it makes Open run that migration again
// (and the ones after it, which must then be safe to re-run).
func migrationIndex(t *testing.T, text string) int {
	t.Helper()
	for i, m := range migrations {
		if strings.Contains(m, text) {
			return i
		}
	}
	t.Fatalf("no migration contains %q", text)
	return 0
}
