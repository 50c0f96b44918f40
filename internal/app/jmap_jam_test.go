package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pochta/internal/auth"
	"pochta/internal/store"
)

// jamVersion is the jmap-jam release the test installs from npm (once,
// into the user's cache folder).
const jamVersion = "0.13.1"

// installJam returns a folder with jmap-jam installed; it fails clearly
// without node and npm (Debian: nodejs, npm).
func installJam(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed for the jmap-jam test (apt-get install nodejs npm): %v", tool, err)
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "pochta-tests", "jmap-jam@"+jamVersion)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "jmap-jam", "package.json")); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--prefix", dir, "jmap-jam@"+jamVersion)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm install jmap-jam: %v\n%s", err, out)
		}
	}
	return dir
}

// TestJMAPJam: the npm JMAP client jmap-jam, run by Node, lists mailboxes,
// queries and reads mail, sets a keyword, uploads and imports a message,
// downloads it and sends mail to another local user.
func TestJMAPJam(t *testing.T) {
	dir := installJam(t)
	script, err := os.ReadFile("testdata/jmap-jam.mjs")
	if err != nil {
		t.Fatal(err)
	}
	// ES modules resolve packages from the script's folder.
	run := filepath.Join(dir, "pochta-jam-"+strings.ReplaceAll(t.Name(), "/", "_")+".mjs")
	if err := os.WriteFile(run, script, 0o644); err != nil {
		t.Fatal(err)
	}
	a := startApp(t)
	bobAccount(t, a)
	deliverSMTP(t, a, "kate@example.test", "For jam", "Read me with jam.")
	ctx := context.Background()
	kate, _ := a.Store.GetAccount(ctx, "kate@example.test")
	secret := auth.GenerateAppPassword()
	if _, err := a.Store.AddAppPassword(ctx, store.AppPassword{AccountID: kate.ID, Name: "jam", Hash: auth.AppPasswordHash(secret)}); err != nil {
		t.Fatal(err)
	}
	token := base64.StdEncoding.EncodeToString([]byte("kate@example.test:" + secret))
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(cctx, "node", run, "http://"+a.Addrs()["http"][0]+"/.well-known/jmap", token, "bob@example.test").CombinedOutput()
	if err != nil {
		t.Fatalf("jmap-jam: %v\n%s", err, out)
	}
	var got struct {
		Mailboxes  []string `json:"mailboxes"`
		Subjects   []string `json:"subjects"`
		Keywords   []string `json:"keywords"`
		Imported   bool     `json:"imported"`
		Downloaded bool     `json:"downloaded"`
		Submitted  bool     `json:"submitted"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("jmap-jam output: %v\n%s", err, out)
	}
	if strings.Join(got.Mailboxes, ",") != "Archive,Drafts,INBOX,Junk,Sent,Trash" || strings.Join(got.Subjects, ",") != "For jam" ||
		strings.Join(got.Keywords, ",") != "$flagged" || !got.Imported || !got.Downloaded || !got.Submitted {
		t.Fatalf("jmap-jam saw %+v", got)
	}
	bob, _ := a.Store.GetAccount(ctx, "bob@example.test")
	inbox, _ := a.Store.GetMailbox(ctx, bob.ID, "INBOX")
	if st, _ := a.Store.Status(ctx, inbox.ID); st.Messages != 1 {
		t.Fatalf("bob has %d messages", st.Messages)
	}
}
