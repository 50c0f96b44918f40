// Package store defines where mail lives: domains, accounts, aliases
// (Directory) and each account's mailboxes and messages (Mailstore). The
// interfaces are shaped for IMAP from day one — every message has, per
// mailbox, a UID, the mailbox's UIDVALIDITY and UIDNEXT, flags and keywords,
// an internal date, a size and a modification sequence (RFC 7162) — so the
// protocol servers never need a migration. Backends live in sub-packages
// (store/sqlite is the embedded default); protocol code imports only this
// package.
//
// Every method takes a context first. Methods that add mail (Deliver,
// Append, Copy, Move) return only after the data is durable on disk.
package store

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors returned by every backend; wrap them, compare with errors.Is.
var (
	ErrNotFound      = errors.New("store: not found")
	ErrExists        = errors.New("store: already exists")
	ErrOverQuota     = errors.New("store: over quota")
	ErrInvalidName   = errors.New("store: invalid name")
	ErrInUse         = errors.New("store: still in use")
	ErrModifiedSince = errors.New("store: modified since")
	// ErrNoSpace: the disk is full; nothing was stored.
	ErrNoSpace = errors.New("store: no space left on device")
)

// Standard mailbox names and their special-use attributes (RFC 6154),
// created with every account.
var DefaultMailboxes = []struct{ Name, SpecialUse string }{
	{"INBOX", ""},
	{"Drafts", `\Drafts`},
	{"Sent", `\Sent`},
	{"Junk", `\Junk`},
	{"Trash", `\Trash`},
	{"Archive", `\Archive`},
}

// Delimiter separates levels of the mailbox hierarchy ("Work/2026").
const Delimiter = "/"

// Domain is a mail domain served here.
type Domain struct {
	Name string // lower case, ASCII (A-labels)
	// CatchAll is the address of the account that receives mail for unknown
	// local parts; empty means unknown recipients are rejected.
	CatchAll string
	Created  time.Time
}

// Account is a mailbox owner; it logs in with its address.
type Account struct {
	ID           int64
	Address      string // lower case "user@domain"
	PasswordHash string // PHC string (argon2id), never the password
	QuotaBytes   int64  // 0 = no quota
	Created      time.Time
}

// Alias maps one address to one or more target addresses (local or remote).
type Alias struct {
	Address string
	Targets []string
}

// Directory manages domains, accounts and aliases. Addresses are compared
// case-insensitively; backends store them lower-cased.
type Directory interface {
	AddDomain(ctx context.Context, name string) error
	GetDomain(ctx context.Context, name string) (Domain, error)
	ListDomains(ctx context.Context) ([]Domain, error)
	// RemoveDomain fails with ErrInUse while accounts or aliases remain.
	RemoveDomain(ctx context.Context, name string) error
	// SetCatchAll sets (or with "" clears) the domain's catch-all account.
	SetCatchAll(ctx context.Context, domain, address string) error

	// AddAccount creates the account and its DefaultMailboxes. The domain
	// must exist (ErrNotFound otherwise).
	AddAccount(ctx context.Context, address, passwordHash string) (Account, error)
	GetAccount(ctx context.Context, address string) (Account, error)
	GetAccountByID(ctx context.Context, id int64) (Account, error)
	// ListAccounts lists accounts of one domain, or all when domain is "".
	ListAccounts(ctx context.Context, domain string) ([]Account, error)
	// RemoveAccount deletes the account with all its mailboxes and messages.
	RemoveAccount(ctx context.Context, address string) error
	SetPasswordHash(ctx context.Context, address, hash string) error
	SetQuota(ctx context.Context, address string, bytes int64) error

	AddAlias(ctx context.Context, address string, targets []string) error
	GetAlias(ctx context.Context, address string) (Alias, error)
	ListAliases(ctx context.Context, domain string) ([]Alias, error)
	RemoveAlias(ctx context.Context, address string) error
}

// SCRAMStore keeps each account's SCRAM-SHA-256 verifier (salt,
// iteration count, StoredKey, ServerKey: RFC 5802 §3), an opaque string
// made by package scram. A verifier is bound to the password hash it was
// made beside: once the account's hash changes (SetPasswordHash, or any
// other way) the old verifier is gone, so a replaced password never
// keeps working through SCRAM.
type SCRAMStore interface {
	// SCRAMKeys returns the account and its verifier, "" when it has none
	// for its current password; ErrNotFound when there is no account.
	SCRAMKeys(ctx context.Context, address string) (Account, string, error)
	// SetSCRAMKeys stores keys for the account if its password hash is
	// still passwordHash; otherwise it stores nothing and returns
	// ErrModifiedSince.
	SetSCRAMKeys(ctx context.Context, address, passwordHash, keys string) error
}

// AccountSources marks the accounts provisioned for users of a directory
// (LDAP, the system's users), so that no other source serves them once
// the directory stops knowing the user (internal/directory).
type AccountSources interface {
	// AddSourcedAccount creates, in one step, an account with its
	// DefaultMailboxes for a user of source ("ldap"), with no usable
	// password: the directory checks it. The domain must exist.
	AddSourcedAccount(ctx context.Context, address, source string) (Account, error)
	// AccountSource returns the source an account came from, "" for the
	// store's own accounts; ErrNotFound when there is no such account.
	AccountSource(ctx context.Context, address string) (string, error)
}

// Mailbox is one folder of one account.
type Mailbox struct {
	ID            int64
	AccountID     int64
	Name          string // full path with Delimiter; "INBOX" is always upper case
	SpecialUse    string // `\Sent`, `\Junk`, ... or ""
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	Subscribed    bool // the name is in the account's subscriptions
	// RecentWatermark is the highest UID already claimed as \Recent by
	// some session (ClaimRecent); messages above it are still recent for
	// the next session that claims (RFC 3501 §2.3.2). New mailboxes, and
	// the mailbox a renamed INBOX's messages move to, start at 0.
	RecentWatermark uint32
}

// MailboxStatus is a mailbox with its counters (IMAP STATUS).
type MailboxStatus struct {
	Mailbox
	Messages uint32
	Unseen   uint32
	Deleted  uint32
	Size     int64 // sum of message sizes (RFC 8438 STATUS SIZE)
	// Recent counts messages with a UID above RecentWatermark: those no
	// session has claimed yet (IMAP4rev1 STATUS RECENT). Counting claims
	// nothing.
	Recent uint32
}

// Message is one message in one mailbox.
type Message struct {
	MailboxID    int64
	UID          uint32
	ModSeq       uint64
	Flags        []string // system flags (`\Seen`) and keywords (`$Junk`), sorted
	InternalDate time.Time
	Size         int64
	// EmailID and ThreadID are the message's JMAP identity (EmailRef).
	EmailID, ThreadID int64
}

// HasFlag reports whether m carries flag (case-insensitive).
func (m *Message) HasFlag(flag string) bool {
	for _, f := range m.Flags {
		if equalFold(f, flag) {
			return true
		}
	}
	return false
}

// UIDRange is an inclusive range of UIDs; Stop 0 means "up to the largest".
type UIDRange struct{ Start, Stop uint32 }

// UIDSet is a union of ranges. A nil set means every message.
type UIDSet []UIDRange

// Contains reports whether uid is in s (a nil set contains everything).
func (s UIDSet) Contains(uid uint32) bool {
	if s == nil {
		return true
	}
	for _, r := range s {
		if uid >= r.Start && (r.Stop == 0 || uid <= r.Stop) {
			return true
		}
	}
	return false
}

// FlagOp says how SetFlags combines the given flags with existing ones.
type FlagOp int

const (
	FlagsReplace FlagOp = iota // FLAGS
	FlagsAdd                   // +FLAGS
	FlagsRemove                // -FLAGS
)

// Target is one destination of a delivery: an account's mailbox.
type Target struct {
	AccountID int64
	Mailbox   string   // mailbox name; "" = INBOX. A missing mailbox is created.
	Flags     []string // initial flags, e.g. `$Junk`
}

// Delivered tells where one Target's copy landed.
type Delivered struct {
	MailboxID int64
	UID       uint32
}

// UIDPair maps a source UID to the UID its copy got (RFC 4315 COPYUID).
type UIDPair struct{ Src, Dst uint32 }

// SearchField names an indexed text field for Search.
type SearchField string

const (
	SearchSubject SearchField = "subject"
	SearchFrom    SearchField = "from"
	SearchTo      SearchField = "to"
	SearchCc      SearchField = "cc"
	SearchBcc     SearchField = "bcc"
	SearchBody    SearchField = "body" // decoded text of text/* parts
	SearchText    SearchField = "text" // all headers and body
	// SearchHeader is "header:" followed by a lower-case header name;
	// an empty value matches messages that have the header at all.
	SearchHeader SearchField = "header:"
)

// Change is what happened to a mailbox, sent to watchers after a commit.
type Change struct {
	AccountID int64
	MailboxID int64
}

// Mailstore holds mailboxes and messages. Names are full paths using
// Delimiter; backends refuse names that are empty, contain control
// characters, have empty levels, or are longer than 1,000 bytes
// (ErrInvalidName). All mailbox IDs are checked to belong to the account the
// caller resolved them through; callers get IDs only from GetMailbox or
// ListMailboxes of their own account.
type Mailstore interface {
	ListMailboxes(ctx context.Context, accountID int64) ([]Mailbox, error)
	// GetMailbox resolves a name; "inbox" in any case means INBOX.
	GetMailbox(ctx context.Context, accountID int64, name string) (Mailbox, error)
	CreateMailbox(ctx context.Context, accountID int64, name, specialUse string) (Mailbox, error)
	// DeleteMailbox removes a mailbox and its messages; INBOX cannot be
	// deleted (ErrInvalidName). Children stay.
	DeleteMailbox(ctx context.Context, accountID int64, name string) error
	// RenameMailbox renames a mailbox and all its children. Renaming INBOX
	// moves its messages into a new mailbox and leaves INBOX empty
	// (RFC 9051 §6.3.6).
	RenameMailbox(ctx context.Context, accountID int64, oldName, newName string) error
	// SetSubscribed adds a name to or removes it from the account's
	// subscriptions. The name need not exist: subscriptions are names,
	// kept when their mailbox is deleted (RFC 9051 §6.3.7); they follow
	// a RENAME. CreateMailbox does not subscribe; an account's default
	// mailboxes and folders created by delivery start subscribed.
	SetSubscribed(ctx context.Context, accountID int64, name string, subscribed bool) error
	// Subscriptions lists the subscribed names of an account, sorted.
	Subscriptions(ctx context.Context, accountID int64) ([]string, error)
	Status(ctx context.Context, mailboxID int64) (MailboxStatus, error)
	// FirstUnseen returns the lowest UID of a message without \Seen, 0
	// when every message is seen (IMAP4rev1 SELECT's OK [UNSEEN n],
	// RFC 3501 §6.3.1). It answers from an index, not by a scan.
	FirstUnseen(ctx context.Context, mailboxID int64) (uint32, error)
	// ClaimRecent takes the \Recent flag (RFC 3501 §2.3.2) of every
	// message that arrived since the last claim: it atomically raises the
	// mailbox's RecentWatermark to UIDNEXT-1 and reports that the messages
	// with first <= UID < next are recent for the caller's session and for
	// no other. first == next means nothing was claimed (a second claim
	// right after the first returns first == next == UIDNEXT). IMAP calls
	// it at a read-write SELECT and when it learns of new messages.
	ClaimRecent(ctx context.Context, mailboxID int64) (first, next uint32, err error)

	// Deliver stores one message into every target atomically (one copy
	// of the content, shared). It returns after content and metadata are
	// fsynced; concurrent calls share fsyncs (group commit). If any target
	// account would exceed its quota, nothing is stored and the error
	// wraps ErrOverQuota.
	Deliver(ctx context.Context, content io.Reader, targets []Target) ([]Delivered, error)
	// Append stores one message into one mailbox (IMAP APPEND); durable on
	// return. A zero date means now.
	Append(ctx context.Context, mailboxID int64, flags []string, date time.Time, content io.Reader) (Message, error)

	// UIDs lists the UIDs of a mailbox in ascending order.
	UIDs(ctx context.Context, mailboxID int64) ([]uint32, error)
	// Messages calls fn for each message in set, in ascending UID order,
	// streaming rows (never loading the whole mailbox). fn must not call
	// back into the store.
	Messages(ctx context.Context, mailboxID int64, set UIDSet, fn func(Message) error) error
	// Open returns the raw RFC 5322 content of one message. A message
	// that is not (or no longer) there is ErrNotFound, never an empty or
	// partial content; a reader already returned keeps yielding the whole
	// content when the message is expunged meanwhile.
	Open(ctx context.Context, mailboxID int64, uid uint32) (io.ReadSeekCloser, error)

	// SetFlags changes flags of the messages in set. With unchangedSince
	// > 0 (RFC 7162 UNCHANGEDSINCE) messages whose ModSeq is greater are
	// left alone and returned in failed. Changed messages are returned with
	// their new state and ModSeq.
	SetFlags(ctx context.Context, mailboxID int64, set UIDSet, op FlagOp, flags []string, unchangedSince uint64) (changed []Message, failed []uint32, err error)
	// Copy copies messages into dst (same account), durably.
	Copy(ctx context.Context, src int64, set UIDSet, dst int64) ([]UIDPair, error)
	// Move moves messages into dst atomically (RFC 6851).
	Move(ctx context.Context, src int64, set UIDSet, dst int64) ([]UIDPair, error)
	// Expunge removes messages flagged \Deleted; with a non-nil set only
	// those in set (UID EXPUNGE). It returns the expunged UIDs.
	Expunge(ctx context.Context, mailboxID int64, set UIDSet) ([]uint32, error)
	// Changes returns messages whose ModSeq > since, and UIDs expunged
	// with a ModSeq > since (RFC 7162 QRESYNC VANISHED).
	Changes(ctx context.Context, mailboxID int64, since uint64) (changed []Message, vanished []uint32, err error)

	// Search returns, ascending, the UIDs of messages whose field contains
	// value (case-insensitive substring), answered from an index rather
	// than by reading message files.
	Search(ctx context.Context, mailboxID int64, field SearchField, value string) ([]uint32, error)

	// QuotaUsage returns the bytes an account uses and its limit (0 = none).
	QuotaUsage(ctx context.Context, accountID int64) (used, limit int64, err error)

	// Watch delivers a Change after every commit touching the account,
	// until cancel is called. Slow receivers may miss duplicate changes
	// (the channel is buffered and coalesced), never the last one.
	Watch(accountID int64) (changes <-chan Change, cancel func())
}

// WatchFuncer is Mailstore.Watch without a channel: fn is called after
// every commit touching the account, until cancel returns. fn runs in the
// committing goroutine with the backend's watch lock held, so it must
// neither block nor call the store. A session that only needs to be woken
// (IMAP IDLE) saves the channel's buffer and the goroutine reading it.
type WatchFuncer interface {
	WatchFunc(accountID int64, fn func(Change)) (cancel func())
}

// DateIndex lists a mailbox's messages in internal-date order from an
// index, for JMAP's Email/query (its usual sort, newest first) without
// reading every message's row.
type DateIndex interface {
	// UIDsByDate returns the UIDs of the mailbox's messages that have no
	// \Deleted flag, ordered by internal date and then UID (ascending or
	// descending), skipping the first offset and at most limit of them.
	UIDsByDate(ctx context.Context, mailboxID int64, ascending bool, offset, limit int) ([]uint32, error)
	// DateCount is how many messages UIDsByDate lists in all, from the
	// mailbox's counters (Status also counts \Recent, a scan of the
	// unclaimed messages, all of them in a mailbox IMAP never opened).
	DateCount(ctx context.Context, mailboxID int64) (int, error)
}

// FlagLister reads only what a client's resync asks for — each message's
// UID, mod-sequence and flags (FETCH FLAGS, UID FLAGS MODSEQ, CHANGEDSINCE,
// RFC 9051 §6.4.5, RFC 7162 §3.1.4) — without the whole rows Messages
// reads, so that a million-message mailbox streams in bounded memory.
type FlagLister interface {
	// MessageFlags calls fn for each message in set (nil: every one)
	// whose ModSeq is above changedSince (0: every one), in ascending UID
	// order. flags is sorted as Message.Flags; the slice is reused once fn
	// returns (its strings may be kept). An error from fn stops the
	// listing and is returned; a missing mailbox is ErrNotFound.
	MessageFlags(ctx context.Context, mailboxID int64, set UIDSet, changedSince uint64, fn func(uid uint32, modSeq uint64, flags []string) error) error
}

// EmailRef is a message's JMAP identity (RFC 8621 §4.1.1) and where it is.
// EmailID is given when a message is stored (Deliver, Append, Copy) and
// kept when it moves (Move); ThreadID is the thread it was put into when
// it was stored (RFC 8621 §3, from Message-ID, References, In-Reply-To and
// the base subject) and never changes. Both are unique across the store.
type EmailRef struct {
	EmailID, ThreadID int64
	MailboxID         int64
	UID               uint32
}

// Emails finds messages by their JMAP identity.
type Emails interface {
	// EmailRefs returns the refs of the mailbox's messages with these
	// UIDs; an expunged UID gets the ids it had; UIDs never used are
	// absent.
	EmailRefs(ctx context.Context, mailboxID int64, uids []uint32) (map[uint32]EmailRef, error)
	// FindEmails returns where the account's messages with these Email
	// ids are; ids of no current message are absent.
	FindEmails(ctx context.Context, accountID int64, emailIDs []int64) (map[int64]EmailRef, error)
	// ThreadEmails lists the account's messages in a thread by internal
	// date, then EmailID, at most limit of them.
	ThreadEmails(ctx context.Context, accountID, threadID int64, limit int) ([]EmailRef, error)
}

// TokenCounts counts trained messages: how many spam and how many ham
// messages (for one token: how many of those contained it).
type TokenCounts struct{ Spam, Ham int64 }

// SpamStore keeps the per-account counts of the built-in Bayesian spam
// filter (internal/spam). Tokens are opaque strings of at most 64 bytes.
type SpamStore interface {
	// SpamTokens returns the account's trained message totals and the
	// counts of those of tokens that were ever seen (others are absent).
	SpamTokens(ctx context.Context, accountID int64, tokens []string) (totals TokenCounts, counts map[string]TokenCounts, err error)
	// TrainSpam adds one message with the given distinct tokens to the
	// spam (or ham) counts; with undo it takes one away instead, never
	// below zero.
	TrainSpam(ctx context.Context, accountID int64, tokens []string, spam, undo bool) error
}

// ServerState keeps named values of server-wide state that every node of
// a store must share and that must survive a restart: DKIM keys, the SRS
// secret, the ACME account key and certificate, TLS-RPT counts, the
// MTA-STS policy cache. Names are slash-separated paths ("dkim/example.org/
// sel.ed25519.key"), at most 255 bytes; values at most 1 MiB.
type ServerState interface {
	// GetState returns the value stored under name, or ErrNotFound.
	GetState(ctx context.Context, name string) ([]byte, error)
	// PutState stores value under name, replacing any earlier value.
	PutState(ctx context.Context, name string, value []byte) error
	// AddState stores value under name only when name is free, else
	// ErrExists: one node wins a race to create (or claim) a name.
	AddState(ctx context.Context, name string, value []byte) error
	// DeleteState removes name; a missing name is no error.
	DeleteState(ctx context.Context, name string) error
	// ListState returns the names that start with prefix, sorted.
	ListState(ctx context.Context, prefix string) ([]string, error)
}

// Store is a complete backend.
type Store interface {
	Directory
	Mailstore
	Close() error
}

// Pinger reports whether a backend's database answers (the HTTP health
// endpoint).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Backend is everything a complete backend offers: what internal/app and
// cmd/pochta use, whichever backend the config chooses.
type Backend interface {
	Store
	SCRAMStore
	AccountSources
	AppPasswords
	SieveStore
	SpamStore
	DateIndex
	FlagLister
	Emails
	Pinger
	Importer
	ServerState
	AccountFlagStore
	WebSessions
	Uploads
	AccountEvents
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// AppPassword is a named, generated password of one account that works on
// mail protocols instead of the account's main password. Only a hash of the
// secret is kept; the secret is shown once, when it is made.
type AppPassword struct {
	ID        int64
	AccountID int64
	Name      string
	Hash      string   // hex SHA-256 of the normalised secret
	Protocols []string // lower case ("imap", "pop3", "smtp"); empty: every protocol
	Created   time.Time
}

// AppPasswords keeps accounts' app passwords and whether an account
// refuses its main password on mail protocols.
type AppPasswords interface {
	// AddAppPassword stores p (ErrExists when the account has one of that name).
	AddAppPassword(ctx context.Context, p AppPassword) (AppPassword, error)
	// AppPasswords lists an account's app passwords by name.
	AppPasswords(ctx context.Context, accountID int64) ([]AppPassword, error)
	// AppPasswordByHash finds the account's app password with that hash (ErrNotFound).
	AppPasswordByHash(ctx context.Context, accountID int64, hash string) (AppPassword, error)
	// RemoveAppPassword deletes one by name (ErrNotFound).
	RemoveAppPassword(ctx context.Context, accountID int64, name string) error
	// MainPasswordRefused reports whether the account accepts only app passwords.
	MainPasswordRefused(ctx context.Context, accountID int64) (bool, error)
	SetMainPasswordRefused(ctx context.Context, accountID int64, refused bool) error
}

// SieveScript is one of an account's Sieve scripts (RFC 5228), managed
// through ManageSieve (RFC 5804); at most one per account is active.
type SieveScript struct {
	Name    string
	Content string
	Active  bool
}

// SieveStore keeps each account's Sieve scripts and the vacation replies
// already sent (RFC 5230 §4.2). Script names are compared exactly.
type SieveStore interface {
	// SieveScripts lists an account's scripts sorted by name.
	SieveScripts(ctx context.Context, accountID int64) ([]SieveScript, error)
	GetSieveScript(ctx context.Context, accountID int64, name string) (SieveScript, error)
	// PutSieveScript creates or replaces a script (keeping it active if it was).
	PutSieveScript(ctx context.Context, accountID int64, name, content string) error
	// DeleteSieveScript fails with ErrInUse for the active script (RFC 5804 §2.10).
	DeleteSieveScript(ctx context.Context, accountID int64, name string) error
	// RenameSieveScript fails with ErrExists when newName is taken.
	RenameSieveScript(ctx context.Context, accountID int64, oldName, newName string) error
	// ActivateSieveScript makes name the active script; "" deactivates all.
	ActivateSieveScript(ctx context.Context, accountID int64, name string) error
	// ActiveSieveScript returns the active script, ErrNotFound when none.
	ActiveSieveScript(ctx context.Context, accountID int64) (SieveScript, error)
	// VacationSent records a vacation reply to sender under handle and
	// reports whether one was already recorded within period (then
	// nothing is recorded and no reply must be sent).
	VacationSent(ctx context.Context, accountID int64, sender, handle string, period time.Duration) (alreadySent bool, err error)
}

// Importer fills an empty store from another one (pochta store migrate)
// keeping what IMAP clients cache: UIDVALIDITY, UIDs and modseqs
// (RFC 9051 §2.3.1.1, RFC 7162 §3), so that none re-downloads a mailbox.
type Importer interface {
	// ImportMessage stores content in the mailbox as message m.UID with
	// m.Flags, m.InternalDate and m.ModSeq; m.UID must not be below the
	// mailbox's UIDNEXT. The mailbox's UIDNEXT becomes m.UID+1.
	ImportMessage(ctx context.Context, mailboxID int64, m Message, content io.Reader) error
	// SetMailboxState sets mb.ID's UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and
	// RecentWatermark to those of mb.
	SetMailboxState(ctx context.Context, mb Mailbox) error
	// Expunged returns the mailbox's expunged UIDs, each with the modseq
	// of its expunge (what QRESYNC's VANISHED is answered from).
	Expunged(ctx context.Context, mailboxID int64) (map[uint32]uint64, error)
	// ImportExpunged records UIDs as expunged at their modseqs, so that a
	// QRESYNC client learns they vanished (RFC 7162 §3.2.10).
	ImportExpunged(ctx context.Context, mailboxID int64, expunged map[uint32]uint64) error
}

// AccountFlags are an account's administrative switches.
type AccountFlags struct {
	// Admin: the account may log in to the web admin (/admin/).
	Admin bool
	// Disabled: the account cannot log in on any protocol; mail to it is
	// still delivered (it keeps its mailbox until removed).
	Disabled bool
}

// AccountFlagStore keeps the accounts' AccountFlags.
type AccountFlagStore interface {
	// AccountFlags returns the flags (zero when never set); ErrNotFound
	// when there is no such account.
	AccountFlags(ctx context.Context, accountID int64) (AccountFlags, error)
	// SetAccountFlags replaces the flags (ErrNotFound: no such account).
	SetAccountFlags(ctx context.Context, accountID int64, f AccountFlags) error
}

// WebSession is one browser's login to the webmail. Only a hash of the
// cookie's secret is kept (ID), so a copy of the database cannot be used
// to log in; CSRF is the token the browser must send back on every
// state-changing request.
type WebSession struct {
	ID        string // hex SHA-256 of the cookie's secret
	AccountID int64
	CSRF      string
	Created   time.Time
	Expires   time.Time
}

// AccountEvents is the log of events that must end an account's open
// sessions — disabled, password changed or reset, removed — shared by
// every process using the store: internal/manage writes it (also from the
// command line), each serving node's revocation.Watcher reads it.
// Events older than a day are dropped.
type AccountEvents interface {
	// AddAccountEvent records that accountID's open sessions must end.
	AddAccountEvent(ctx context.Context, accountID int64) error
	// AccountEventsAfter returns the accounts of at most MaxAccountEvents
	// events after seq, oldest first, and the seq of the last one
	// returned (seq itself when there is none). Seqs only grow.
	AccountEventsAfter(ctx context.Context, seq int64) (accounts []int64, last int64, err error)
}

// MaxAccountEvents bounds one AccountEventsAfter answer.
const MaxAccountEvents = 100

// WebSessions keeps webmail sessions in the store so that every node
// sharing it knows them.
type WebSessions interface {
	AddWebSession(ctx context.Context, s WebSession) error
	// WebSession finds an unexpired session (ErrNotFound otherwise).
	WebSession(ctx context.Context, id string) (WebSession, error)
	RemoveWebSession(ctx context.Context, id string) error
	// RemoveWebSessions ends every session of an account ("log out
	// everywhere") and those already expired, and returns how many went.
	RemoveWebSessions(ctx context.Context, accountID int64) (int, error)
	// WebSettings are an account's webmail settings (zero when never set).
	WebSettings(ctx context.Context, accountID int64) (WebSettings, error)
	SetWebSettings(ctx context.Context, accountID int64, ws WebSettings) error
}

// WebSettings are an account's webmail preferences and second factor.
type WebSettings struct {
	TOTPSecret string // base32; "" when the account has no second factor
	Signature  string
	Language   string
}

// Upload is a blob a JMAP client uploaded (RFC 8620 §6.1), kept until it
// expires whether or not an Email uses it.
type Upload struct {
	ID        string // "u" + 32 hex digits, unique in the store
	AccountID int64
	Type      string // media type the client gave
	Size      int64
	Created   time.Time
	Expires   time.Time
}

// UploadLimits bound one PutUpload.
type UploadLimits struct {
	MaxSize int64         // the upload itself
	MaxHeld int64         // all unexpired uploads of the account, this one included
	TTL     time.Duration // from now to Expires
}

// Uploads keeps JMAP uploads in the store, so that every node sharing it
// finds them and a restart keeps them.
type Uploads interface {
	// PutUpload streams r into a new upload. More than lim.MaxSize bytes:
	// tooLarge, nothing kept. Beyond lim.MaxHeld: ErrOverQuota, nothing
	// kept. An unknown account: ErrNotFound.
	PutUpload(ctx context.Context, accountID int64, typ string, r io.Reader, lim UploadLimits) (up Upload, tooLarge bool, err error)
	// GetUpload returns an unexpired upload of the account and its content
	// (ErrNotFound otherwise).
	GetUpload(ctx context.Context, accountID int64, id string) (Upload, []byte, error)
	// RemoveExpiredUploads removes the uploads expired at now and says how
	// many went.
	RemoveExpiredUploads(ctx context.Context, now time.Time) (int, error)
}
