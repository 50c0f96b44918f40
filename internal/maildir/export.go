package maildir

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"pochta/internal/mutf7"
	"pochta/internal/store"
)

// Export writes every mailbox of the account as a Maildir++ tree under
// dir, which must not exist or be empty, and returns how many messages it
// wrote. Messages are written with LF line endings, as Maildir readers
// expect, to tmp/ and renamed into cur/ once synced; each file's mtime is
// the internal date and its name is "<time>.<pid>_<n>.<host>,S=<size>,
// W=<CRLF size>:2,<flags>". Each folder also gets Dovecot's
// dovecot-uidlist (keeping the UID order) and dovecot-keywords (the first
// 26 keywords of the folder; further keywords are not representable in a
// Maildir and are dropped), and the root a subscriptions file.
func Export(ctx context.Context, ms store.Mailstore, accountID int64, dir string) (n int, err error) {
	if err := prepareDir(dir); err != nil {
		return 0, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0, fmt.Errorf("maildir: %w", err)
	}
	defer root.Close()

	mailboxes, err := ms.ListMailboxes(ctx, accountID)
	if err != nil {
		return 0, fmt.Errorf("maildir: listing mailboxes: %w", err)
	}
	sort.Slice(mailboxes, func(i, j int) bool {
		a, b := mailboxes[i].Name, mailboxes[j].Name
		if (a == "INBOX") != (b == "INBOX") {
			return a == "INBOX"
		}
		return a < b
	})
	e := &exporter{ms: ms, root: root, pid: os.Getpid(), host: hostname()}
	var subs []string
	for _, mb := range mailboxes {
		d := folderDir(mb.Name)
		k, err := e.folder(ctx, mb, d)
		n += k
		if err != nil {
			return n, err
		}
		if mb.Subscribed {
			if mb.Name == "INBOX" {
				subs = append(subs, "INBOX")
			} else {
				subs = append(subs, d[1:])
			}
		}
	}
	var b strings.Builder
	for _, s := range subs {
		b.WriteString(s + "\n")
	}
	if err := writeFile(root, "subscriptions", []byte(b.String())); err != nil {
		return n, err
	}
	return n, syncDir(root, ".")
}

// prepareDir creates dir, or checks that it is an empty directory.
func prepareDir(dir string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("maildir: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("maildir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("maildir: %s is not a directory", dir)
	}
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("maildir: %w", err)
	}
	defer f.Close()
	if names, _ := f.Readdirnames(1); len(names) > 0 {
		return fmt.Errorf("maildir: %s is not empty", dir)
	}
	return nil
}

// folderDir is the Maildir++ directory of a mailbox: "." for INBOX,
// otherwise "." and the encoded levels joined by ".".
func folderDir(name string) string {
	if name == "INBOX" {
		return "."
	}
	levels := strings.Split(name, store.Delimiter)
	for i, l := range levels {
		levels[i] = mutf7.Encode(l, ".")
	}
	return "." + strings.Join(levels, ".")
}

// hostname returns the host name made safe for a Maildir file name: "/"
// and ":" are written as octal escapes, as the Maildir specification
// asks.
func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	h = strings.ReplaceAll(h, "/", `\057`)
	return strings.ReplaceAll(h, ":", `\072`)
}

type exporter struct {
	ms   store.Mailstore
	root *os.Root
	pid  int
	host string
	seq  int
}

// folder writes one mailbox.
func (e *exporter) folder(ctx context.Context, mb store.Mailbox, d string) (int, error) {
	for _, sub := range []string{d, path.Join(d, "cur"), path.Join(d, "new"), path.Join(d, "tmp")} {
		if sub == "." {
			continue
		}
		if err := e.root.Mkdir(sub, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return 0, fmt.Errorf("maildir: %w", err)
		}
	}
	if d != "." {
		// Marks a Maildir++ folder for Courier and Dovecot.
		if err := writeFile(e.root, path.Join(d, "maildirfolder"), nil); err != nil {
			return 0, err
		}
	}
	// Messages must not call back into the store: collect first.
	var msgs []store.Message
	if err := e.ms.Messages(ctx, mb.ID, nil, func(m store.Message) error {
		msgs = append(msgs, m)
		return nil
	}); err != nil {
		return 0, fmt.Errorf("maildir: listing %q: %w", mb.Name, err)
	}

	var keywords []string // index = letter - 'a'
	var uidlist strings.Builder
	guid := make([]byte, 16)
	rand.Read(guid)
	fmt.Fprintf(&uidlist, "3 V%d N%d G%s\n", mb.UIDValidity, mb.UIDNext, hex.EncodeToString(guid))
	n := 0
	for _, m := range msgs {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		content, err := e.read(ctx, mb.ID, m.UID)
		if errors.Is(err, store.ErrNotFound) {
			continue // expunged meanwhile
		}
		if err != nil {
			return n, fmt.Errorf("maildir: reading %q UID %d: %w", mb.Name, m.UID, err)
		}
		lf := toLF(content)
		virtual := len(lf) + bytes.Count(lf, []byte("\n"))
		e.seq++
		base := fmt.Sprintf("%d.%d_%d.%s,S=%d,W=%d", max(m.InternalDate.Unix(), 0), e.pid, e.seq, e.host, len(lf), virtual)
		var info string
		info, keywords = infoFor(m.Flags, keywords)
		if err := e.writeMessage(d, base, info, lf, m); err != nil {
			return n, err
		}
		fmt.Fprintf(&uidlist, "%d :%s\n", m.UID, base)
		n++
	}
	if err := syncDir(e.root, path.Join(d, "cur")); err != nil {
		return n, err
	}
	if len(keywords) > 0 {
		var b strings.Builder
		for i, k := range keywords {
			fmt.Fprintf(&b, "%d %s\n", i, k)
		}
		if err := writeFile(e.root, path.Join(d, "dovecot-keywords"), []byte(b.String())); err != nil {
			return n, err
		}
	}
	if err := writeFile(e.root, path.Join(d, "dovecot-uidlist"), []byte(uidlist.String())); err != nil {
		return n, err
	}
	return n, nil
}

func (e *exporter) read(ctx context.Context, mailboxID int64, uid uint32) ([]byte, error) {
	rc, err := e.ms.Open(ctx, mailboxID, uid)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// writeMessage writes one message to tmp/, syncs it, sets its mtime to
// the internal date and renames it into cur/ (the Maildir delivery
// protocol, so a reader never sees a partial file).
func (e *exporter) writeMessage(d, base, info string, content []byte, m store.Message) error {
	tmp := path.Join(d, "tmp", base)
	f, err := e.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("maildir: %w", err)
	}
	_, err = f.Write(content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !m.InternalDate.IsZero() {
		err = e.root.Chtimes(tmp, m.InternalDate, m.InternalDate)
	}
	if err == nil {
		err = e.root.Rename(tmp, path.Join(d, "cur", base+":2,"+info))
	}
	if err != nil {
		e.root.Remove(tmp)
		return fmt.Errorf("maildir: writing message: %w", err)
	}
	return nil
}

// infoFor returns the info letters for flags, in ASCII order as the
// Maildir specification requires, adding keywords to the folder's list.
func infoFor(flags, keywords []string) (string, []string) {
	var letters []byte
	for _, fl := range flags {
		found := false
		for _, f := range infoFlags {
			if strings.EqualFold(f.flag, fl) {
				letters = append(letters, f.letter)
				found = true
			}
		}
		if found || strings.HasPrefix(fl, `\`) || !validKeyword(fl) {
			continue // \Recent and unknown system flags have no letter
		}
		idx := -1
		for i, k := range keywords {
			if strings.EqualFold(k, fl) {
				idx = i
			}
		}
		if idx < 0 && len(keywords) < maxKeywords {
			keywords = append(keywords, fl)
			idx = len(keywords) - 1
		}
		if idx >= 0 {
			letters = append(letters, byte('a'+idx))
		}
	}
	sort.Slice(letters, func(i, j int) bool { return letters[i] < letters[j] })
	return string(letters), keywords
}

// toLF converts CRLF line endings to LF.
func toLF(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
}

// writeFile writes a small file inside root and syncs it.
func writeFile(root *os.Root, name string, data []byte) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("maildir: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("maildir: writing %s: %w", name, err)
	}
	return nil
}

// syncDir makes the entries of a directory durable.
func syncDir(root *os.Root, name string) error {
	f, err := root.Open(name)
	if err != nil {
		return fmt.Errorf("maildir: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("maildir: syncing %s: %w", name, err)
	}
	return nil
}
