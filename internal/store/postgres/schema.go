package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationLock is the pg_advisory_xact_lock key under which Open
// migrates, so that nodes starting at once migrate one after the other.
const migrationLock = 0x706f6368 // "poch"

// migrations are applied in order; migrations[i] brings the schema from
// version i to i+1. Append new steps, never edit old ones. Text columns
// use the "C" collation: names sort and compare by bytes, as in
// store/sqlite, whatever the database's locale.
var migrations = []string{
	// 1: the schema of store/sqlite's migrations 1-9, plus message
	// contents in blobs.data and a trigram-indexed search table.
	`
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TABLE meta (
	key   TEXT COLLATE "C" PRIMARY KEY,
	value BIGINT NOT NULL
);
CREATE TABLE domains (
	name      TEXT COLLATE "C" PRIMARY KEY,
	catch_all TEXT COLLATE "C" NOT NULL DEFAULT '',
	created   BIGINT NOT NULL
);
CREATE TABLE accounts (
	id            BIGSERIAL PRIMARY KEY,
	address       TEXT COLLATE "C" NOT NULL UNIQUE,
	domain        TEXT COLLATE "C" NOT NULL REFERENCES domains(name),
	password_hash TEXT NOT NULL,
	quota         BIGINT NOT NULL DEFAULT 0,
	used          BIGINT NOT NULL DEFAULT 0,
	created       BIGINT NOT NULL,
	main_password_refused INTEGER NOT NULL DEFAULT 0,
	source        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX accounts_domain ON accounts(domain);
CREATE TABLE aliases (
	address TEXT COLLATE "C" PRIMARY KEY,
	domain  TEXT COLLATE "C" NOT NULL REFERENCES domains(name),
	targets TEXT NOT NULL
);
CREATE INDEX aliases_domain ON aliases(domain);
CREATE TABLE mailboxes (
	id             BIGSERIAL PRIMARY KEY,
	account_id     BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name           TEXT COLLATE "C" NOT NULL,
	special_use    TEXT NOT NULL DEFAULT '',
	uidvalidity    BIGINT NOT NULL,
	uidnext        BIGINT NOT NULL,
	highest_modseq BIGINT NOT NULL,
	n_messages     BIGINT NOT NULL DEFAULT 0,
	n_unseen       BIGINT NOT NULL DEFAULT 0,
	n_deleted      BIGINT NOT NULL DEFAULT 0,
	size           BIGINT NOT NULL DEFAULT 0,
	recent_uid     BIGINT NOT NULL DEFAULT 0,
	UNIQUE(account_id, name)
);
CREATE TABLE blobs (
	id   BIGSERIAL PRIMARY KEY,
	size BIGINT NOT NULL,
	refs BIGINT NOT NULL,
	data BYTEA NOT NULL
);
CREATE TABLE messages (
	mailbox_id    BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	uid           BIGINT NOT NULL,
	modseq        BIGINT NOT NULL,
	flags         TEXT NOT NULL,
	seen          INTEGER NOT NULL,
	deleted       INTEGER NOT NULL,
	internal_date BIGINT NOT NULL,
	size          BIGINT NOT NULL,
	blob_id       BIGINT NOT NULL REFERENCES blobs(id),
	PRIMARY KEY(mailbox_id, uid)
);
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
CREATE INDEX messages_blob ON messages(blob_id);
CREATE INDEX messages_unseen ON messages(mailbox_id, uid) WHERE seen = 0;
CREATE TABLE expunged (
	mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	uid        BIGINT NOT NULL,
	modseq     BIGINT NOT NULL,
	PRIMARY KEY(mailbox_id, uid)
);
CREATE TABLE headers (
	blob_id BIGINT NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,
	name    TEXT COLLATE "C" NOT NULL,
	value   TEXT COLLATE "C" NOT NULL
);
CREATE INDEX headers_blob ON headers(blob_id, name);
CREATE TABLE search (
	blob_id   BIGINT PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
	subject   TEXT COLLATE "C" NOT NULL,
	sender    TEXT COLLATE "C" NOT NULL,
	recipient TEXT COLLATE "C" NOT NULL,
	cc        TEXT COLLATE "C" NOT NULL,
	bcc       TEXT COLLATE "C" NOT NULL,
	headers   TEXT COLLATE "C" NOT NULL,
	body      TEXT COLLATE "C" NOT NULL
);
CREATE INDEX search_subject ON search USING gin (subject gin_trgm_ops);
CREATE INDEX search_sender ON search USING gin (sender gin_trgm_ops);
CREATE INDEX search_recipient ON search USING gin (recipient gin_trgm_ops);
CREATE INDEX search_cc ON search USING gin (cc gin_trgm_ops);
CREATE INDEX search_bcc ON search USING gin (bcc gin_trgm_ops);
CREATE INDEX search_headers ON search USING gin (headers gin_trgm_ops);
CREATE INDEX search_body ON search USING gin (body gin_trgm_ops);
CREATE TABLE subscriptions (
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name       TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY(account_id, name)
);
CREATE TABLE app_passwords (
	id         BIGSERIAL PRIMARY KEY,
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name       TEXT COLLATE "C" NOT NULL,
	hash       TEXT NOT NULL,
	protocols  TEXT NOT NULL DEFAULT '',
	created    BIGINT NOT NULL,
	UNIQUE(account_id, name)
);
CREATE INDEX app_passwords_hash ON app_passwords(account_id, hash);
CREATE TABLE scram_keys (
	account_id    BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	password_hash TEXT NOT NULL,
	keys          TEXT NOT NULL
);
CREATE TABLE sieve_scripts (
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name       TEXT COLLATE "C" NOT NULL,
	content    TEXT NOT NULL,
	active     INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY(account_id, name)
);
CREATE UNIQUE INDEX sieve_scripts_active ON sieve_scripts(account_id) WHERE active != 0;
CREATE TABLE sieve_vacation (
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	sender     TEXT COLLATE "C" NOT NULL,
	handle     TEXT COLLATE "C" NOT NULL,
	sent       BIGINT NOT NULL,
	PRIMARY KEY(account_id, sender, handle)
);
CREATE INDEX sieve_vacation_sent ON sieve_vacation(sent);
CREATE TABLE spam_totals (
	account_id BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	spam       BIGINT NOT NULL DEFAULT 0,
	ham        BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE spam_tokens (
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	token      TEXT COLLATE "C" NOT NULL,
	spam       BIGINT NOT NULL DEFAULT 0,
	ham        BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY(account_id, token)
);
`,
	// 2: the messages of a mailbox by internal date (store.DateIndex,
	// JMAP's Email/query), as store/sqlite's migration 10.
	`
CREATE INDEX IF NOT EXISTS messages_date ON messages(mailbox_id, internal_date, uid) WHERE deleted = 0;
`,
	// 3: named server state every node shares (store.ServerState), as
	// store/sqlite's migration 11.
	`
CREATE TABLE IF NOT EXISTS server_state (
	name  TEXT COLLATE "C" PRIMARY KEY,
	value BYTEA NOT NULL
);
`,
	// 4: JMAP identities (store.Emails),
	// as store/sqlite's migration 12: Email ids kept by a move, also on
	// expunge tombstones, threads and their keys. Existing messages get
	// ids made of mailbox and UID, each its own thread; the sequence
	// email_ids continues above them.
	`
ALTER TABLE messages ADD COLUMN email_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN thread_id BIGINT NOT NULL DEFAULT 0;
UPDATE messages SET email_id = (mailbox_id << 32) | uid, thread_id = (mailbox_id << 32) | uid;
ALTER TABLE expunged ADD COLUMN email_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE expunged ADD COLUMN thread_id BIGINT NOT NULL DEFAULT 0;
UPDATE expunged SET email_id = (mailbox_id << 32) | uid, thread_id = (mailbox_id << 32) | uid;
CREATE INDEX messages_email ON messages(email_id);
CREATE INDEX messages_thread ON messages(thread_id);
CREATE TABLE thread_keys (
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	key        TEXT COLLATE "C" NOT NULL,
	thread_id  BIGINT NOT NULL,
	PRIMARY KEY(account_id, key)
);
CREATE SEQUENCE email_ids;
SELECT setval('email_ids', GREATEST(1, (SELECT max(email_id) FROM messages), (SELECT max(email_id) FROM expunged)));
`,
	// 5: the accounts' administrative flags (store.AccountFlagStore):
	// admin (the web admin) and disabled (no login anywhere). A table of
	// its own, created IF NOT EXISTS, keeps the migration one statement
	// that the downgrade tests can skip.
	`
CREATE TABLE IF NOT EXISTS account_flags (
	account_id BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	admin      INTEGER NOT NULL DEFAULT 0,
	disabled   INTEGER NOT NULL DEFAULT 0
);
`,
	// 6: the webmail's browser sessions and settings, as
	// store/sqlite's migration 14.
	`
CREATE TABLE IF NOT EXISTS web_sessions (
	id         TEXT PRIMARY KEY,
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	csrf       TEXT NOT NULL,
	created    BIGINT NOT NULL,
	expires    BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS web_sessions_account ON web_sessions(account_id);
CREATE TABLE IF NOT EXISTS web_settings (
	account_id  BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	totp_secret TEXT NOT NULL DEFAULT '',
	signature   TEXT NOT NULL DEFAULT '',
	language    TEXT NOT NULL DEFAULT ''
);
`,
	// 7: JMAP uploads (store.Uploads), as store/sqlite's migration 16 but
	// with the content in the row.
	`
CREATE TABLE IF NOT EXISTS uploads (
	id         TEXT PRIMARY KEY,
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	type       TEXT NOT NULL,
	size       BIGINT NOT NULL,
	created    BIGINT NOT NULL,
	expires    BIGINT NOT NULL,
	data       BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_account ON uploads(account_id, expires);
CREATE INDEX IF NOT EXISTS uploads_expires ON uploads(expires);
`,
	// 8: the log of events that end
	// an account's open sessions (store.AccountEvents), as store/sqlite's
	// migration 18. No foreign key: the event of a removed account
	// outlives it.
	`
CREATE TABLE IF NOT EXISTS account_events (
	seq        BIGSERIAL PRIMARY KEY,
	account_id BIGINT NOT NULL,
	at         BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS account_events_at ON account_events(at);
`,
}

// migrate brings the schema to the newest version, in one transaction
// under an advisory lock: a node that waits for another's migration then
// finds nothing left to do.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres store: migrating: %w", err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // after Commit a no-op
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock)); err != nil {
		return fmt.Errorf("postgres store: migration lock: %w", err)
	}
	if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"); err != nil {
		return fmt.Errorf("postgres store: migrating: %w", err)
	}
	var version int
	err = tx.QueryRow(ctx, "SELECT version FROM schema_version").Scan(&version)
	switch {
	case err == pgx.ErrNoRows:
		if _, err := tx.Exec(ctx, "INSERT INTO schema_version(version) VALUES(0)"); err != nil {
			return fmt.Errorf("postgres store: migrating: %w", err)
		}
	case err != nil:
		return fmt.Errorf("postgres store: reading schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("postgres store: database schema version %d is newer than this program (%d)", version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		if _, err := tx.Exec(ctx, migrations[v]); err != nil {
			return fmt.Errorf("postgres store: migration %d: %w", v+1, err)
		}
	}
	if _, err := tx.Exec(ctx, "UPDATE schema_version SET version = $1", len(migrations)); err != nil {
		return fmt.Errorf("postgres store: migrating: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres store: migrating: %w", err)
	}
	return nil
}
