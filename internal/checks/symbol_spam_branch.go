// Package checks holds the receiving MTA's sender-authentication checks
// (issue 8, part 8A).
//
// MERGE NOTE: this file exists only on branch "spam" so that internal/spam
// compiles before part 8A lands; it declares exactly the Symbol type of the
// fixed interface. Delete this file when merging part 8A's package.
package checks

// Symbol is one weighed finding that feeds the spam score.
type Symbol struct {
	Name   string  // e.g. "SPF_FAIL", "DKIM_INVALID", "DMARC_FAIL", "IPREV_FAIL", "DNSBL_ZEN_SPAMHAUS_ORG"
	Score  float64 // weight added to the spam score (negative for good signs, e.g. "DKIM_ALIGNED" -1)
	Detail string  // short human-readable reason, may be empty
}
