package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are applied in order; migrations[i] brings the schema from
// user_version i to i+1. Append new steps, never edit old ones.
var migrations = []string{
	// 1: initial schema.
	`
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
);
CREATE TABLE domains (
	name      TEXT PRIMARY KEY,
	catch_all TEXT NOT NULL DEFAULT '',
	created   INTEGER NOT NULL
);
CREATE TABLE accounts (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	address       TEXT NOT NULL UNIQUE,
	domain        TEXT NOT NULL REFERENCES domains(name),
	password_hash TEXT NOT NULL,
	quota         INTEGER NOT NULL DEFAULT 0,
	used          INTEGER NOT NULL DEFAULT 0,
	created       INTEGER NOT NULL
);
CREATE INDEX accounts_domain ON accounts(domain);
CREATE TABLE aliases (
	address TEXT PRIMARY KEY,
	domain  TEXT NOT NULL REFERENCES domains(name),
	targets TEXT NOT NULL
);
CREATE INDEX aliases_domain ON aliases(domain);
CREATE TABLE mailboxes (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	account_id     INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name           TEXT NOT NULL,
	special_use    TEXT NOT NULL DEFAULT '',
	uidvalidity    INTEGER NOT NULL,
	uidnext        INTEGER NOT NULL,
	highest_modseq INTEGER NOT NULL,
	subscribed     INTEGER NOT NULL,
	n_messages     INTEGER NOT NULL DEFAULT 0,
	n_unseen       INTEGER NOT NULL DEFAULT 0,
	n_deleted      INTEGER NOT NULL DEFAULT 0,
	size           INTEGER NOT NULL DEFAULT 0,
	UNIQUE(account_id, name)
);
CREATE TABLE blobs (
	id   INTEGER PRIMARY KEY,
	size INTEGER NOT NULL,
	refs INTEGER NOT NULL
);
CREATE TABLE messages (
	mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	uid           INTEGER NOT NULL,
	modseq        INTEGER NOT NULL,
	flags         TEXT NOT NULL,
	seen          INTEGER NOT NULL,
	deleted       INTEGER NOT NULL,
	internal_date INTEGER NOT NULL,
	size          INTEGER NOT NULL,
	blob_id       INTEGER NOT NULL REFERENCES blobs(id),
	PRIMARY KEY(mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
CREATE TABLE expunged (
	mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	uid        INTEGER NOT NULL,
	modseq     INTEGER NOT NULL,
	PRIMARY KEY(mailbox_id, uid)
) WITHOUT ROWID;
CREATE TABLE headers (
	blob_id INTEGER NOT NULL REFERENCES blobs(id),
	name    TEXT NOT NULL,
	value   TEXT NOT NULL
);
CREATE INDEX headers_blob ON headers(blob_id, name);
CREATE VIRTUAL TABLE search USING fts5(
	subject, sender, recipient, cc, bcc, headers, body,
	tokenize = 'trigram'
);
`,
	// 2: per-mailbox \Recent watermark (RFC 3501 §2.3.2), the highest UID
	// some session has claimed as recent. Messages that existed before the
	// upgrade were already seen by earlier sessions, so they start claimed.
	`
ALTER TABLE mailboxes ADD COLUMN recent_uid INTEGER NOT NULL DEFAULT 0;
UPDATE mailboxes SET recent_uid = max(uidnext - 1, 0);
`,
	// 3: subscriptions are names, not a property of a mailbox: a name
	// stays subscribed when its mailbox is deleted, and a name that does
	// not exist can be subscribed (RFC 9051 §6.3.7, RFC 3501 §6.3.6).
	`
CREATE TABLE subscriptions (
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name       TEXT NOT NULL,
	PRIMARY KEY(account_id, name)
) WITHOUT ROWID;
INSERT INTO subscriptions(account_id, name) SELECT account_id, name FROM mailboxes WHERE subscribed != 0;
ALTER TABLE mailboxes DROP COLUMN subscribed;
`,
	// 4: the unseen messages of each mailbox by UID, for the first unseen
	// message an IMAP4rev1 SELECT reports (RFC 3501 §6.3.1); partial, so
	// it holds only the (few) unseen messages.
	`
CREATE INDEX messages_unseen ON messages(mailbox_id, uid) WHERE seen = 0;
`,
	// 5: app passwords (named, generated, stored as a hash, optionally
	// limited to protocols) and the account's "app passwords only" flag.
	`
CREATE TABLE app_passwords (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name       TEXT NOT NULL,
	hash       TEXT NOT NULL,
	protocols  TEXT NOT NULL DEFAULT '',
	created    INTEGER NOT NULL,
	UNIQUE(account_id, name)
);
CREATE INDEX app_passwords_hash ON app_passwords(account_id, hash);
ALTER TABLE accounts ADD COLUMN main_password_refused INTEGER NOT NULL DEFAULT 0;
`,
	// 6: SCRAM-SHA-256 verifiers (RFC 5802 §3), each bound to the password
	// hash it was made beside: a row whose password_hash is no longer the
	// account's is stale and ignored (store.SCRAMStore).
	`
CREATE TABLE scram_keys (
	account_id    INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	password_hash TEXT NOT NULL,
	keys          TEXT NOT NULL
);
`,
	// 7: where an account came from: "" for the store's own, "ldap" (or
	// another directory source's name) for one provisioned for a
	// directory user (internal/directory).
	`
ALTER TABLE accounts ADD COLUMN source TEXT NOT NULL DEFAULT '';
`,
	// 8: each account's Sieve scripts (at most one active) and
	// the vacation replies sent, one row per sender and handle.
	`
CREATE TABLE sieve_scripts (
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name       TEXT NOT NULL,
	content    TEXT NOT NULL,
	active     INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY(account_id, name)
) WITHOUT ROWID;
CREATE UNIQUE INDEX sieve_scripts_active ON sieve_scripts(account_id) WHERE active != 0;
CREATE TABLE sieve_vacation (
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	sender     TEXT NOT NULL,
	handle     TEXT NOT NULL,
	sent       INTEGER NOT NULL,
	PRIMARY KEY(account_id, sender, handle)
) WITHOUT ROWID;
CREATE INDEX sieve_vacation_sent ON sieve_vacation(sent);
`,
	// 9: the built-in Bayesian spam filter's per-account counts:
	// trained spam/ham messages, and per token how many of each held it.
	// IF NOT EXISTS: the migration tests downgrade to older versions and
	// migrate again without dropping these tables.
	`
CREATE TABLE IF NOT EXISTS spam_totals (
	account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	spam       INTEGER NOT NULL DEFAULT 0,
	ham        INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS spam_tokens (
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	token      TEXT NOT NULL,
	spam       INTEGER NOT NULL DEFAULT 0,
	ham        INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY(account_id, token)
) WITHOUT ROWID;
`,
	// 10: JMAP's Email/query lists a mailbox by internal date (DateIndex).
	`
CREATE INDEX IF NOT EXISTS messages_date ON messages(mailbox_id, internal_date, uid) WHERE deleted = 0;
`,
	// 11: named server state every node shares (store.ServerState): DKIM
	// keys, the SRS secret, ACME keys and certificates, TLS-RPT counts,
	// the MTA-STS policy cache.
	`
CREATE TABLE IF NOT EXISTS server_state (
	name  TEXT PRIMARY KEY,
	value BLOB NOT NULL
) WITHOUT ROWID;
`,
	// 12: JMAP identities (store.Emails):
	// each message's Email id, kept by a move (RFC 8621 §4.1.1), and its
	// thread, both also on its expunge tombstone (RFC 8621 §3), with the keys
	// (Message-ID, references, base subject) threads are found by. Existing
	// messages get ids made of mailbox and UID, each its own thread; new
	// ids continue above them (meta 'email_id' is the last one given).
	`
ALTER TABLE messages ADD COLUMN email_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN thread_id INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET email_id = (mailbox_id << 32) | uid, thread_id = (mailbox_id << 32) | uid;
ALTER TABLE expunged ADD COLUMN email_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE expunged ADD COLUMN thread_id INTEGER NOT NULL DEFAULT 0;
UPDATE expunged SET email_id = (mailbox_id << 32) | uid, thread_id = (mailbox_id << 32) | uid;
CREATE INDEX messages_email ON messages(email_id);
CREATE INDEX messages_thread ON messages(thread_id);
CREATE TABLE IF NOT EXISTS thread_keys (
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	key        TEXT NOT NULL,
	thread_id  INTEGER NOT NULL,
	PRIMARY KEY(account_id, key)
) WITHOUT ROWID;
INSERT OR REPLACE INTO meta(key, value)
	SELECT 'email_id', coalesce(max(id), 0) FROM (SELECT max(email_id) AS id FROM messages UNION ALL SELECT max(email_id) FROM expunged);
`,
	// 13: the accounts' administrative flags (store.AccountFlagStore):
	// admin (the web admin) and disabled (no login anywhere). A table of
	// its own, created IF NOT EXISTS, keeps the migration one statement
	// that the downgrade tests can skip.
	`
CREATE TABLE IF NOT EXISTS account_flags (
	account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	admin      INTEGER NOT NULL DEFAULT 0,
	disabled   INTEGER NOT NULL DEFAULT 0
);
`,
	// 14: the webmail's browser sessions (only a hash of the cookie's secret)
	// and each account's webmail settings (TOTP secret, signature,
	// language). IF NOT EXISTS: the migration tests downgrade and migrate
	// again.
	`
CREATE TABLE IF NOT EXISTS web_sessions (
	id         TEXT PRIMARY KEY,
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	csrf       TEXT NOT NULL,
	created    INTEGER NOT NULL,
	expires    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS web_sessions_account ON web_sessions(account_id);
CREATE TABLE IF NOT EXISTS web_settings (
	account_id  INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	totp_secret TEXT NOT NULL DEFAULT '',
	signature   TEXT NOT NULL DEFAULT '',
	language    TEXT NOT NULL DEFAULT ''
);
`,
	// 15: messages by blob. Deleting a blob's row makes SQLite check the
	// foreign key messages.blob_id, which without this index reads every
	// message of the store: on a store of a million messages each expunge
	// of a last copy cost a full scan (scripts/bench mbox). store/postgres
	// had this index from its first migration.
	`
CREATE INDEX IF NOT EXISTS messages_blob ON messages(blob_id);
`,
	// 16: JMAP uploads (store.Uploads): a row per upload, its content in
	// the file uploads/{id}; kept until expires (RFC 8620 §6.1). IF NOT
	// EXISTS: the migration tests downgrade and migrate again.
	`
CREATE TABLE IF NOT EXISTS uploads (
	id         TEXT PRIMARY KEY,
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	type       TEXT NOT NULL,
	size       INTEGER NOT NULL,
	created    INTEGER NOT NULL,
	expires    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS uploads_account ON uploads(account_id, expires);
CREATE INDEX IF NOT EXISTS uploads_expires ON uploads(expires);
`,
	// 17: the search index is built in the background (indexer.go):
	// index_queue holds blobs delivered but not yet in "search"/"headers"
	// (until then a search has the indexer catch up first). Small
	// contents are kept in blob_data instead of files (commit.go,
	// inlineMax). IF NOT EXISTS: the migration tests downgrade and migrate
	// again.
	`
CREATE TABLE IF NOT EXISTS index_queue (blob_id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS blob_data (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
`,
	// 18: the log of events that end
	// an account's open sessions (store.AccountEvents); seq AUTOINCREMENT
	// so that it never goes back when old rows are dropped. IF NOT EXISTS:
	// the migration tests downgrade and migrate again.
	`
CREATE TABLE IF NOT EXISTS account_events (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	account_id INTEGER NOT NULL,
	at         INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS account_events_at ON account_events(at);
`,
}

// migrate brings the database schema to the newest version.
func migrate(ctx context.Context, db *sql.DB) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("sqlite store: reading schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("sqlite store: database schema version %d is newer than this program (%d)", version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("sqlite store: migrating: %w", err)
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite store: migration %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite store: migration %d: %w", v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("sqlite store: migration %d: %w", v+1, err)
		}
	}
	return nil
}
