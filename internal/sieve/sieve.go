// Package sieve is the mail filtering language of RFC 5228 with the
// extensions the MDA offers: fileinto, envelope, imap4flags (RFC 5232),
// body (RFC 5173), variables (RFC 5229), vacation (RFC 5230,
// vacation-seconds RFC 6131), reject/ereject (RFC 5429), copy (RFC 3894),
// mailbox (RFC 5490) and encoded-character. No Sieve library is available
// here, so the lexer, parser and interpreter are written in this package.
//
// Parse checks a script completely (commands, tests, arguments, required
// extensions) and reports the first problem with its line and column, so
// ManageSieve's PUTSCRIPT and CHECKSCRIPT can show it to the user. Run
// executes a parsed script on one message and returns the actions to take;
// it performs none of them itself (the MDA does). A runtime error yields
// the implicit keep (RFC 5228 §2.10.6). Execution is bounded: the script
// size, nesting depth, number of actions and redirects, and the characters
// compared per message are limited.
package sieve

// DefaultScript is the rule used for an account without an active script:
// messages the spam filter marked go to Junk.
const DefaultScript = `require "fileinto";
if header :is "X-Spam" "Yes" { fileinto "Junk"; }
`
