// Package imapserver is pochta's IMAP server: IMAP4rev2 (RFC 9051) and
// IMAP4rev1 (RFC 3501), both advertised, with the extensions mail clients
// rely on — IDLE, UIDPLUS, MOVE, CONDSTORE/QRESYNC (RFC 7162), LIST-EXTENDED,
// LIST-STATUS, SPECIAL-USE, ESEARCH, SORT/THREAD (RFC 5256), QUOTA
// (RFC 9208), ID, LITERAL+, ENABLE, NAMESPACE, BINARY, COMPRESS=DEFLATE
// (RFC 4978) and more — served from a store.Store. Incoming deflate data
// is decoded by inflate.go rather than compress/flate, which holds back
// data a client flushed with Z_PARTIAL_FLUSH (as mbsync does).
//
// The protocol layer is written here rather than on go-imap v2's
// imapserver, because that package cannot carry CONDSTORE, QRESYNC, QUOTA,
// SORT, THREAD, ID or COMPRESS. go-imap's imapclient is used only by tests.
//
// Layout: reader.go frames a command (lines and literals, with limits),
// parser.go/seqset.go/searchparse.go hold the grammar, writer.go writes
// responses, session.go holds per-connection state and the command loop,
// selected.go keeps the selected mailbox's sequence-number↔UID map and
// the session's \Recent UIDs (IMAP4rev1 only, claimed through
// store.Mailstore.ClaimRecent) and turns store changes into untagged
// EXISTS/RECENT/EXPUNGE/VANISHED/FETCH responses, inflate.go decodes COMPRESS input, uidcache.go shares UID lists of large mailboxes between
// SELECTs, search.go evaluates SEARCH programs (text keys via the store's
// index), and every command lives in its own cmd_*.go file.
package imapserver
