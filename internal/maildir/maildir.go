// Package maildir moves an account's mail between the store and a
// Maildir++ tree, the layout Dovecot, Courier and Postfix use: dir/{cur,new,tmp}
// is INBOX, dir/.Sub.Folder/{cur,new,tmp} is the folder "Sub/Folder".
// Import migrates mail from another server; Export writes a tree other
// software (or a later Import) can read.
//
// Message flags live in the file name's info suffix ":2,<letters>"
// (https://cr.yp.to/proto/maildir.html): D \Draft, F \Flagged,
// P $Forwarded, R \Answered, S \Seen, T \Deleted, and Dovecot's lower-case
// letters a-z for the keywords listed in the folder's dovecot-keywords
// file. Messages in new/ are unseen. The internal date is the file's
// modification time. Message order follows Dovecot's dovecot-uidlist when
// present, otherwise the delivery time at the start of the file name.
// Folder names on disk are modified UTF-7 (RFC 3501 §5.1.3) as in
// Dovecot; a "." inside a level is encoded too, since "." separates levels.
//
// Neither function follows symbolic links or opens anything outside dir
// (everything goes through an os.Root).
package maildir

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"pochta/internal/mutf7"
	"pochta/internal/store"
)

// Limits on what Import reads.
const (
	maxMessageSize = 1 << 30  // one message file
	maxMetaSize    = 64 << 20 // dovecot-uidlist, dovecot-keywords, subscriptions
	maxFolders     = 100000
	maxKeywords    = 26 // Dovecot's letters a-z
)

// infoFlags maps the Maildir info letters to flags.
var infoFlags = []struct {
	letter byte
	flag   string
}{
	{'D', `\Draft`},
	{'F', `\Flagged`},
	{'P', `$Forwarded`},
	{'R', `\Answered`},
	{'S', `\Seen`},
	{'T', `\Deleted`},
}

// folder is one Maildir++ folder found by scan.
type folder struct {
	name  string // store name ("INBOX", "Work/2026")
	dir   string // path relative to the root ("." or ".Work.2026")
	files []mailFile
}

// mailFile is one message file.
type mailFile struct {
	path  string // relative to the root
	flags []string
	date  time.Time
	uid   uint32 // from dovecot-uidlist; 0 = not listed
	ts    int64  // delivery time from the file name
	base  string
}

// Import copies the Maildir++ tree at dir into the account's mailboxes,
// creating folders as needed, and returns how many messages it stored.
// Folders whose names match existing mailboxes case-insensitively (".Sent",
// ".junk") go into them. Bare LF line endings become CRLF. Import is
// idempotent: a message whose content is already in the target mailbox
// (as many times as the Maildir holds it) is skipped, so a re-run after a
// failure imports only the rest. A subscriptions file, when present, sets
// the subscription of every imported folder.
func Import(ctx context.Context, ms store.Mailstore, accountID int64, dir string) (n int, err error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0, fmt.Errorf("maildir: %w", err)
	}
	defer root.Close()

	existing, err := ms.ListMailboxes(ctx, accountID)
	if err != nil {
		return 0, fmt.Errorf("maildir: listing mailboxes: %w", err)
	}
	names := map[string]string{} // lower-case name → existing name
	for _, mb := range existing {
		names[strings.ToLower(mb.Name)] = mb.Name
	}
	canonical := func(name string) string {
		if e, ok := names[strings.ToLower(name)]; ok {
			return e
		}
		return name
	}

	// Scan everything first: a symlink or bad name anywhere refuses the
	// whole import before anything is stored.
	folders, err := scan(root)
	if err != nil {
		return 0, err
	}
	subs, haveSubs, err := readSubscriptions(root)
	if err != nil {
		return 0, err
	}

	for _, f := range folders {
		f.name = canonical(f.name)
		mb, err := ms.GetMailbox(ctx, accountID, f.name)
		created := false
		if errors.Is(err, store.ErrNotFound) {
			mb, err = ms.CreateMailbox(ctx, accountID, f.name, "")
			if err == nil {
				names[strings.ToLower(mb.Name)] = mb.Name
				created = true
			}
		}
		if err != nil {
			return n, fmt.Errorf("maildir: folder %q: %w", f.name, err)
		}
		have, err := contentHashes(ctx, ms, mb.ID)
		if err != nil {
			return n, fmt.Errorf("maildir: folder %q: %w", f.name, err)
		}
		for _, mf := range f.files {
			if err := ctx.Err(); err != nil {
				return n, err
			}
			content, err := readMessage(root, mf.path)
			if err != nil {
				return n, err
			}
			h := sha256.Sum256(content)
			if have[h] > 0 {
				have[h]--
				continue
			}
			if _, err := ms.Append(ctx, mb.ID, mf.flags, mf.date, bytes.NewReader(content)); err != nil {
				return n, fmt.Errorf("maildir: storing %s: %w", mf.path, err)
			}
			n++
		}
		if !haveSubs && created {
			// Without a subscriptions file every imported folder is
			// shown: CreateMailbox does not subscribe.
			if err := ms.SetSubscribed(ctx, accountID, mb.Name, true); err != nil {
				return n, fmt.Errorf("maildir: subscribing %q: %w", mb.Name, err)
			}
		}
		if haveSubs {
			want := false
			for _, s := range subs {
				if strings.EqualFold(canonical(s), mb.Name) {
					want = true
				}
			}
			if want || mb.Name != "INBOX" {
				if err := ms.SetSubscribed(ctx, accountID, mb.Name, want); err != nil {
					return n, fmt.Errorf("maildir: subscribing %q: %w", mb.Name, err)
				}
			}
		}
	}
	return n, nil
}

// contentHashes counts the existing messages of a mailbox by content.
func contentHashes(ctx context.Context, ms store.Mailstore, mailboxID int64) (map[[32]byte]int, error) {
	uids, err := ms.UIDs(ctx, mailboxID)
	if err != nil {
		return nil, err
	}
	have := make(map[[32]byte]int, len(uids))
	for _, uid := range uids {
		rc, err := ms.Open(ctx, mailboxID, uid)
		if errors.Is(err, store.ErrNotFound) {
			continue // expunged meanwhile
		}
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		_, err = io.Copy(h, rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		have[[32]byte(h.Sum(nil))]++
	}
	return have, nil
}

// lstatKind checks that name is not a symlink and returns its mode; a
// missing name gives ok false.
func lstatKind(root *os.Root, name string) (mode fs.FileMode, ok bool, err error) {
	fi, err := root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("maildir: %w", err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return 0, false, fmt.Errorf("maildir: %s is a symbolic link, refused", name)
	}
	return fi.Mode(), true, nil
}

// readDir lists a directory inside root.
func readDir(root *os.Root, name string) ([]fs.DirEntry, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("maildir: %w", err)
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("maildir: reading %s: %w", name, err)
	}
	return ents, nil
}

// scan finds the folders of the tree and their messages, in order.
func scan(root *os.Root) ([]*folder, error) {
	ents, err := readDir(root, ".")
	if err != nil {
		return nil, err
	}
	folders := []*folder{{name: "INBOX", dir: "."}}
	for _, e := range ents {
		n := e.Name()
		if len(n) < 2 || n[0] != '.' || n == ".." {
			continue
		}
		mode, _, err := lstatKind(root, n)
		if err != nil {
			return nil, err
		}
		if !mode.IsDir() {
			continue // Dovecot keeps no files named ".x" here; ignore
		}
		name, err := folderName(n[1:])
		if err != nil {
			return nil, fmt.Errorf("maildir: folder %q: %w", n, err)
		}
		if len(folders) >= maxFolders {
			return nil, errors.New("maildir: too many folders")
		}
		folders = append(folders, &folder{name: name, dir: n})
	}
	if len(folders) == 1 {
		_, cur, err := lstatKind(root, "cur")
		if err != nil {
			return nil, err
		}
		_, nw, err := lstatKind(root, "new")
		if err != nil {
			return nil, err
		}
		if !cur && !nw {
			return nil, errors.New("maildir: not a Maildir (no cur/, new/ or .Folder/ inside)")
		}
	}
	// Parents before children, so creation order is natural.
	sort.SliceStable(folders[1:], func(i, j int) bool { return folders[1+i].name < folders[1+j].name })
	for _, f := range folders {
		if err := scanFolder(root, f); err != nil {
			return nil, err
		}
	}
	return folders, nil
}

// folderName turns a Maildir++ directory name (without the leading dot)
// into a store name.
func folderName(s string) (string, error) {
	levels := strings.Split(s, ".")
	for i, l := range levels {
		if l == "" {
			return "", errors.New("empty hierarchy level")
		}
		d, err := decodeLevel(l)
		if err != nil {
			return "", err
		}
		if strings.Contains(d, store.Delimiter) || d == "" {
			return "", fmt.Errorf("level %q contains %q", d, store.Delimiter)
		}
		levels[i] = d
	}
	return strings.Join(levels, store.Delimiter), nil
}

// scanFolder lists the messages of cur/ and new/ of one folder.
func scanFolder(root *os.Root, f *folder) error {
	keywords, err := readKeywords(root, path.Join(f.dir, "dovecot-keywords"))
	if err != nil {
		return err
	}
	uids, err := readUIDList(root, path.Join(f.dir, "dovecot-uidlist"))
	if err != nil {
		return err
	}
	for _, sub := range []string{"cur", "new"} {
		d := path.Join(f.dir, sub)
		mode, ok, err := lstatKind(root, d)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if !mode.IsDir() {
			return fmt.Errorf("maildir: %s is not a directory", d)
		}
		ents, err := readDir(root, d)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			p := path.Join(d, e.Name())
			fi, err := root.Lstat(p)
			if err != nil {
				return fmt.Errorf("maildir: %w", err)
			}
			if fi.Mode()&fs.ModeSymlink != 0 {
				return fmt.Errorf("maildir: %s is a symbolic link, refused", p)
			}
			if !fi.Mode().IsRegular() {
				continue
			}
			base, info, _ := strings.Cut(e.Name(), ":")
			mf := mailFile{path: p, date: fi.ModTime(), base: base, uid: uids[base], ts: leadingNumber(base)}
			mf.flags = parseInfo(info, keywords)
			if sub == "new" {
				// new/ holds mail no client has seen yet.
				mf.flags = removeFlag(mf.flags, `\Seen`)
			}
			f.files = append(f.files, mf)
		}
	}
	sort.SliceStable(f.files, func(i, j int) bool {
		a, b := f.files[i], f.files[j]
		if (a.uid == 0) != (b.uid == 0) {
			return a.uid != 0 // listed in dovecot-uidlist first
		}
		if a.uid != b.uid {
			return a.uid < b.uid
		}
		if a.ts != b.ts {
			return a.ts < b.ts
		}
		return naturalLess(a.base, b.base)
	})
	return nil
}

// parseInfo reads the flags of an info suffix "2,FS" (keywords a-z via
// the folder's dovecot-keywords). Experimental "1," info and unknown
// letters are ignored.
func parseInfo(info string, keywords map[int]string) []string {
	letters, ok := strings.CutPrefix(info, "2,")
	if !ok {
		return nil
	}
	var flags []string
	for i := 0; i < len(letters); i++ {
		c := letters[i]
		for _, f := range infoFlags {
			if f.letter == c {
				flags = append(flags, f.flag)
			}
		}
		if c >= 'a' && c <= 'z' {
			if kw, ok := keywords[int(c-'a')]; ok {
				flags = append(flags, kw)
			}
		}
	}
	return flags
}

func removeFlag(flags []string, flag string) []string {
	out := flags[:0]
	for _, f := range flags {
		if !strings.EqualFold(f, flag) {
			out = append(out, f)
		}
	}
	return out
}

// readMeta reads a small metadata file; a missing file gives nil.
func readMeta(root *os.Root, name string) ([]byte, error) {
	mode, ok, err := lstatKind(root, name)
	if err != nil || !ok {
		return nil, err
	}
	if !mode.IsRegular() {
		return nil, nil
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("maildir: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMetaSize+1))
	if err != nil {
		return nil, fmt.Errorf("maildir: reading %s: %w", name, err)
	}
	if len(b) > maxMetaSize {
		return nil, fmt.Errorf("maildir: %s is too large", name)
	}
	return b, nil
}

// readKeywords parses Dovecot's dovecot-keywords: lines "<index> <name>".
func readKeywords(root *os.Root, name string) (map[int]string, error) {
	b, err := readMeta(root, name)
	if err != nil {
		return nil, err
	}
	kw := map[int]string{}
	for line := range strings.Lines(string(b)) {
		idx, word, ok := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		i, err := strconv.Atoi(idx)
		if !ok || err != nil || i < 0 || i >= maxKeywords || !validKeyword(word) {
			continue
		}
		kw[i] = word
	}
	return kw, nil
}

// validKeyword reports whether s can be an IMAP keyword (RFC 9051 atom
// without the special characters).
func validKeyword(s string) bool {
	if s == "" || len(s) > 100 || s[0] == '\\' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// readUIDList parses Dovecot's dovecot-uidlist: a header line, then
// "<uid> [<extension> ...] :<base name>" (version 3) or "<uid> <name>"
// (version 1). It returns base name → UID.
func readUIDList(root *os.Root, name string) (map[string]uint32, error) {
	b, err := readMeta(root, name)
	if err != nil {
		return nil, err
	}
	uids := map[string]uint32{}
	first := true
	for line := range strings.Lines(string(b)) {
		line = strings.TrimRight(line, "\r\n")
		if first {
			first = false
			continue // header: version, UIDVALIDITY, next UID
		}
		uidStr, rest, ok := strings.Cut(line, " ")
		uid, err := strconv.ParseUint(uidStr, 10, 32)
		if !ok || err != nil || uid == 0 {
			continue
		}
		var file string
		if i := strings.Index(rest, ":"); i >= 0 && (i == 0 || rest[i-1] == ' ') {
			file = rest[i+1:]
		} else {
			f := strings.Fields(rest)
			if len(f) == 0 {
				continue
			}
			file = f[len(f)-1]
		}
		base, _, _ := strings.Cut(file, ":")
		uids[base] = uint32(uid)
	}
	return uids, nil
}

// readSubscriptions parses the subscriptions file: Dovecot's version 2
// ("V\t2" header, levels separated by tabs) or the classic one-name-a-line
// form with "." between levels.
func readSubscriptions(root *os.Root) (names []string, ok bool, err error) {
	_, exists, err := lstatKind(root, "subscriptions")
	if err != nil || !exists {
		return nil, false, err
	}
	b, err := readMeta(root, "subscriptions")
	if err != nil {
		return nil, false, err
	}
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	v2 := len(lines) > 0 && lines[0] == "V\t2"
	if v2 {
		lines = lines[1:]
	}
	for _, l := range lines {
		if l == "" {
			continue
		}
		if strings.EqualFold(l, "INBOX") {
			names = append(names, "INBOX")
			continue
		}
		var name string
		if v2 {
			name = strings.ReplaceAll(l, "\t", store.Delimiter)
		} else if name, err = folderName(l); err != nil {
			continue // a name we cannot map is not worth failing for
		}
		names = append(names, name)
	}
	return names, true, nil
}

// readMessage reads a message file and converts bare LF to CRLF.
func readMessage(root *os.Root, name string) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("maildir: %w", err)
	}
	defer f.Close()
	// Re-check after opening: the file must still not be a symlink
	// (os.Root keeps it inside the tree either way).
	if fi, err := root.Lstat(name); err != nil || fi.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("maildir: %s changed while importing", name)
	}
	raw, err := io.ReadAll(io.LimitReader(bufio.NewReader(f), maxMessageSize+1))
	if err != nil {
		return nil, fmt.Errorf("maildir: reading %s: %w", name, err)
	}
	if len(raw) > maxMessageSize {
		return nil, fmt.Errorf("maildir: %s is too large", name)
	}
	return toCRLF(raw), nil
}

// toCRLF converts bare LF line endings to CRLF.
func toCRLF(b []byte) []byte {
	bare := 0
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			bare++
		}
	}
	if bare == 0 {
		return b
	}
	out := make([]byte, 0, len(b)+bare)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// leadingNumber parses the digits a Maildir file name starts with (the
// delivery time in seconds); -1 if there are none.
func leadingNumber(s string) int64 {
	i := 0
	for i < len(s) && i < 18 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return -1
	}
	n, _ := strconv.ParseInt(s[:i], 10, 64)
	return n
}

// naturalLess compares strings with digit runs compared as numbers, so
// "x_9" sorts before "x_10".
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		if isDigit(a[0]) && isDigit(b[0]) {
			i, j := digits(a), digits(b)
			na, nb := strings.TrimLeft(a[:i], "0"), strings.TrimLeft(b[:j], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[i:], b[j:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func digits(s string) int {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

// decodeLevel decodes one level of a folder name from modified UTF-7
// (Dovecot's default on disk, with "." encoded as Encode(l, ".") writes it).
// A name that is not modified UTF-7 but is valid UTF-8 (Dovecot's UTF8
// layout option, hand-made folders) is taken as it is.
func decodeLevel(s string) (string, error) {
	out, err := mutf7.DecodeLenient(s)
	if err == nil {
		return out, nil
	}
	if utf8.ValidString(s) {
		return s, nil
	}
	return "", err
}
