package storetest

import (
	"testing"
	"time"

	"pochta/internal/store"
)

// testSieve: Sieve scripts per account (put, replace, list, one active,
// rename, delete refused while active) and the vacation record.
func testSieve(t *testing.T, e *env) {
	ss, ok := e.s.(store.SieveStore)
	if !ok {
		t.Fatalf("backend %T does not implement store.SieveStore", e.s)
	}
	a := e.account("bob@example.org")
	b := e.account("carol@example.org")
	_, err := ss.ActiveSieveScript(e.ctx, a.ID)
	e.wantErr(err, store.ErrNotFound)
	e.must(ss.PutSieveScript(e.ctx, a.ID, "main", "keep;"))
	e.must(ss.PutSieveScript(e.ctx, a.ID, "alt", "discard;"))
	e.must(ss.PutSieveScript(e.ctx, b.ID, "main", "stop;"))
	e.wantErr(ss.PutSieveScript(e.ctx, a.ID, "", "keep;"), store.ErrInvalidName)
	e.wantErr(ss.PutSieveScript(e.ctx, a.ID, "bad\nname", "keep;"), store.ErrInvalidName)
	e.wantErr(ss.PutSieveScript(e.ctx, 99999, "x", "keep;"), store.ErrNotFound)

	list, err := ss.SieveScripts(e.ctx, a.ID)
	e.must(err)
	if len(list) != 2 || list[0].Name != "alt" || list[1].Name != "main" || list[0].Active || list[1].Active {
		t.Fatalf("SieveScripts = %+v", list)
	}
	e.wantErr(ss.ActivateSieveScript(e.ctx, a.ID, "nope"), store.ErrNotFound)
	e.must(ss.ActivateSieveScript(e.ctx, a.ID, "main"))
	e.must(ss.ActivateSieveScript(e.ctx, a.ID, "alt"))
	act, err := ss.ActiveSieveScript(e.ctx, a.ID)
	e.must(err)
	if act.Name != "alt" || act.Content != "discard;" || !act.Active {
		t.Fatalf("active = %+v", act)
	}
	if _, err := ss.ActiveSieveScript(e.ctx, b.ID); err == nil {
		t.Fatal("carol has an active script she never activated")
	}
	// Replacing keeps it active; deleting the active one is refused.
	e.must(ss.PutSieveScript(e.ctx, a.ID, "alt", "keep;"))
	act, err = ss.ActiveSieveScript(e.ctx, a.ID)
	e.must(err)
	if act.Name != "alt" || act.Content != "keep;" {
		t.Fatalf("after replace: %+v", act)
	}
	e.wantErr(ss.DeleteSieveScript(e.ctx, a.ID, "alt"), store.ErrInUse)
	e.wantErr(ss.DeleteSieveScript(e.ctx, a.ID, "nope"), store.ErrNotFound)
	e.wantErr(ss.RenameSieveScript(e.ctx, a.ID, "alt", "main"), store.ErrExists)
	e.wantErr(ss.RenameSieveScript(e.ctx, a.ID, "nope", "x"), store.ErrNotFound)
	e.must(ss.RenameSieveScript(e.ctx, a.ID, "alt", "renamed"))
	act, err = ss.ActiveSieveScript(e.ctx, a.ID)
	e.must(err)
	if act.Name != "renamed" {
		t.Fatalf("rename lost the active mark: %+v", act)
	}
	e.must(ss.ActivateSieveScript(e.ctx, a.ID, ""))
	_, err = ss.ActiveSieveScript(e.ctx, a.ID)
	e.wantErr(err, store.ErrNotFound)
	e.must(ss.DeleteSieveScript(e.ctx, a.ID, "renamed"))
	got, err := ss.GetSieveScript(e.ctx, a.ID, "main")
	e.must(err)
	if got.Content != "keep;" {
		t.Fatalf("GetSieveScript = %+v", got)
	}

	// Vacation: once per sender and handle within the period.
	sent := func(acc int64, sender, handle string, period time.Duration, want bool) {
		t.Helper()
		got, err := ss.VacationSent(e.ctx, acc, sender, handle, period)
		e.must(err)
		if got != want {
			t.Fatalf("VacationSent(%s, %s) = %v, want %v", sender, handle, got, want)
		}
	}
	sent(a.ID, "alice@example.net", "h", time.Hour, false)
	sent(a.ID, "ALICE@example.net", "h", time.Hour, true)
	sent(a.ID, "alice@example.net", "other", time.Hour, false)
	sent(a.ID, "dave@example.net", "h", time.Hour, false)
	sent(b.ID, "alice@example.net", "h", time.Hour, false)
	sent(a.ID, "alice@example.net", "h", 0, false) // period over: send again
	sent(a.ID, "alice@example.net", "h", time.Hour, true)

	// Removing the account removes its scripts.
	e.must(e.s.RemoveAccount(e.ctx, "bob@example.org"))
	list, err = ss.SieveScripts(e.ctx, a.ID)
	e.must(err)
	if len(list) != 0 {
		t.Fatalf("scripts left after RemoveAccount: %+v", list)
	}
}
