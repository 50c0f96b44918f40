package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"

	"pochta/internal/store"
	"pochta/internal/store/names"
)

// flagChunk is how many messages one query of MessageFlags reads. Their
// UIDs, modseqs and flags come back as one text value (group_concat):
// reading three columns a row through database/sql and the pure-Go SQLite
// costs several times more per message than the query itself (a mutex
// round per column), which dominated FETCH 1:* (FLAGS) on a million
// messages.
const flagChunk = 4096

// flagChunkQuery lists up to ?5 messages of mailbox ?1 with UIDs in
// ?2..?3 and modseq above ?4, one "uid modseq flags" line each, walking
// the primary key (mailbox_id, uid) in order.
// The outer group_concat has no ORDER BY of its own: that would sort the
// chunk again in a temporary b-tree (a third of the time); it keeps the
// subquery's order in practice, and lines checks (sorting if not).
const flagChunkQuery = `SELECT group_concat(uid || ' ' || modseq || ' ' || flags, char(10))
FROM (SELECT uid, modseq, flags FROM messages
WHERE mailbox_id = ?1 AND uid BETWEEN ?2 AND ?3 AND modseq > ?4 ORDER BY uid LIMIT ?5)`

// flagCountQuery counts, up to ?3, the messages of mailbox ?1 with modseq
// above ?2, from the messages_modseq index.
const flagCountQuery = `SELECT count(*) FROM (SELECT 1 FROM messages WHERE mailbox_id = ?1 AND modseq > ?2 LIMIT ?3)`

// flagChangedQuery lists every message of mailbox ?1 with modseq above ?2
// from the messages_modseq index: a CHANGEDSINCE resync where few changed
// reads only those instead of walking the whole mailbox.
const flagChangedQuery = `SELECT group_concat(uid || ' ' || modseq || ' ' || flags, char(10) ORDER BY uid)
FROM messages INDEXED BY messages_modseq WHERE mailbox_id = ?1 AND modseq > ?2`

// MessageFlags implements store.FlagLister. Each chunk is its own read,
// finished before fn sees its messages: a client slow to take a long
// listing holds no snapshot open (which would keep the WAL from being
// checkpointed). The listing is still right for IMAP: a message expunged
// meanwhile is left out (FETCH then says EXPUNGEISSUED), one changed
// meanwhile comes with its newer flags and modseq.
func (s *Store) MessageFlags(ctx context.Context, mailboxID int64, set store.UIDSet, changedSince uint64, fn func(uint32, uint64, []string) error) error {
	return s.messageFlags(ctx, mailboxID, set, changedSince, flagChunk, fn)
}

// messageFlags is MessageFlags reading chunk messages per query.
func (s *Store) messageFlags(ctx context.Context, mailboxID int64, set store.UIDSet, changedSince uint64, chunk int, fn func(uint32, uint64, []string) error) error {
	if _, err := mailboxByID(ctx, s.rdb, mailboxID); err != nil {
		return dbErr(err)
	}
	f := names.NewUIDFilter(set)
	if f.Empty() || changedSince >= math.MaxInt64 {
		return nil // modseqs are SQLite integers: none is above that
	}
	l := flagList{f: f, fn: fn}
	if changedSince > 0 {
		// Few changes (the usual resync): read them from the modseq
		// index rather than walking every message.
		var n int
		if err := s.scanRow(ctx, flagCountQuery, []any{mailboxID, int64(changedSince), chunk + 1}, &n); err != nil {
			return dbErr(err)
		}
		if n <= chunk {
			var list sql.NullString
			if err := s.scanRow(ctx, flagChangedQuery, []any{mailboxID, int64(changedSince)}, &list); err != nil {
				return dbErr(err)
			}
			_, _, err := l.lines(list.String, true)
			return err
		}
	}
	ranges, filter := f.Ranges, false
	switch {
	case f.All:
		ranges = []store.UIDRange{{Start: 0, Stop: math.MaxUint32}}
	case len(ranges) > 32:
		lo, hi := f.Bounds()
		ranges, filter = []store.UIDRange{{Start: lo, Stop: hi}}, true
	}
	for _, r := range ranges {
		from := int64(r.Start)
		for from <= int64(r.Stop) {
			var list sql.NullString
			if err := s.scanRow(ctx, flagChunkQuery, []any{mailboxID, from, int64(r.Stop), int64(changedSince), chunk}, &list); err != nil {
				return dbErr(err)
			}
			n, last, err := l.lines(list.String, filter)
			if err != nil {
				return err
			}
			if n < chunk {
				break // the range's last chunk
			}
			from = int64(last) + 1
		}
	}
	return nil
}

// flagList parses the "uid modseq flag flag…" lines of the queries above
// and hands each message to fn, reusing one flags slice.
type flagList struct {
	f     names.UIDFilter
	fn    func(uint32, uint64, []string) error
	flags []string
}

// lines calls fn for each line of list (those in l.f when filter) and
// returns how many lines there were and the last UID.
func (l *flagList) lines(list string, filter bool) (n int, last uint32, err error) {
	if !ascending(list) {
		list = sortLines(list)
	}
	for list != "" {
		line := list
		if i := strings.IndexByte(list, '\n'); i >= 0 {
			line, list = list[:i], list[i+1:]
		} else {
			list = ""
		}
		uid, rest, ok := leadingNumber(line)
		modseq, rest, ok2 := leadingNumber(rest)
		if !ok || !ok2 || uid > math.MaxUint32 {
			return n, last, fmt.Errorf("sqlite store: bad flag list line %q", names.Truncate(line))
		}
		n, last = n+1, uint32(uid)
		if filter && !l.f.Contains(last) {
			continue
		}
		l.flags = l.flags[:0]
		for rest != "" {
			tok := rest
			if i := strings.IndexByte(rest, ' '); i >= 0 {
				tok, rest = rest[:i], rest[i+1:]
			} else {
				rest = ""
			}
			if tok != "" {
				l.flags = append(l.flags, tok)
			}
		}
		if err := l.fn(last, modseq, l.flags); err != nil {
			return n, last, err
		}
	}
	return n, last, nil
}

// leadingNumber parses the decimal number at the start of s, up to a space,
// and returns the rest after the space.
func leadingNumber(s string) (uint64, string, bool) {
	var v uint64
	i := 0
	for ; i < len(s) && s[i] != ' '; i++ {
		c := s[i]
		if c < '0' || c > '9' || v > (math.MaxUint64-9)/10 {
			return 0, "", false
		}
		v = v*10 + uint64(c-'0')
	}
	if i == 0 {
		return 0, "", false
	}
	if i < len(s) {
		i++
	}
	return v, s[i:], true
}

// ascending reports whether the lines of list have ascending UIDs.
func ascending(list string) bool {
	var prev uint64
	for i := 0; i < len(list); {
		uid, _, _ := leadingNumber(list[i:])
		if i > 0 && uid <= prev {
			return false
		}
		prev = uid
		j := strings.IndexByte(list[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return true
}

// sortLines orders the lines of list by UID (never expected: see
// flagChunkQuery).
func sortLines(list string) string {
	lines := strings.Split(list, "\n")
	slices.SortFunc(lines, func(a, b string) int {
		x, _, _ := leadingNumber(a)
		y, _, _ := leadingNumber(b)
		return cmp.Compare(x, y)
	})
	return strings.Join(lines, "\n")
}

// scanRow runs a one-row query through the cached prepared statements
// and scans its columns into dest.
func (s *Store) scanRow(ctx context.Context, query string, args []any, dest ...any) error {
	st, err := s.readStmt(ctx, query)
	if err != nil {
		return err
	}
	return st.QueryRowContext(ctx, args...).Scan(dest...)
}
