package checks

import (
	"bytes"
	"context"
	"errors"

	"github.com/emersion/go-msgauth/dkim"

	"pochta/internal/reply"
)

// dkimOutcome is the verification of one DKIM-Signature field.
type dkimOutcome struct {
	result   string // pass | fail | neutral | temperror | permerror (RFC 8601 §2.7.1)
	domain   string // d=
	selector string // s=
	b        string // the first 8 characters of b= (RFC 6008)
	reason   string
}

// checkDKIM verifies at most MaxSignatures signatures (one key lookup
// each), in header order. An empty result means the message is unsigned.
func (c *Checker) checkDKIM(ctx context.Context, content []byte, h header) []dkimOutcome {
	if len(h.dkimSigs) == 0 {
		return nil
	}
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(content), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			return c.opts.Resolver.LookupTXT(ctx, name)
		},
		MaxVerifications: c.opts.MaxSignatures,
	})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) && len(verifs) == 0 {
		// The header could not be read at all.
		return []dkimOutcome{{result: "permerror", reason: reasonText(err)}}
	}
	out := make([]dkimOutcome, 0, len(verifs))
	for i, v := range verifs {
		o := dkimOutcome{result: "pass", domain: normDomain(v.Domain)}
		if i < len(h.dkimSigs) {
			tags := tagList(h.dkimSigs[i])
			o.selector = tags["s"]
			o.b = tags["b"]
			if len(o.b) > 8 {
				o.b = o.b[:8]
			}
			if o.domain == "" {
				o.domain = normDomain(tags["d"])
			}
		}
		switch {
		case v.Err == nil:
		case dkim.IsTempFail(v.Err):
			o.result, o.reason = "temperror", reasonText(v.Err)
		case dkim.IsPermFail(v.Err):
			o.result, o.reason = "permerror", reasonText(v.Err)
		default:
			o.result, o.reason = "fail", reasonText(v.Err)
		}
		out = append(out, o)
	}
	return out
}

// dkimAuthResults renders one dkim result per verified signature
// (RFC 8601 §2.7.1), or dkim=none for an unsigned message.
func dkimAuthResults(list []dkimOutcome) []authResult {
	if len(list) == 0 {
		return []authResult{{Method: "dkim", Result: "none"}}
	}
	out := make([]authResult, 0, len(list))
	for _, o := range list {
		ar := authResult{Method: "dkim", Result: o.result, Reason: o.reason}
		if o.domain != "" {
			ar.Props = append(ar.Props, prop{"header", "d", o.domain})
		}
		if o.selector != "" {
			ar.Props = append(ar.Props, prop{"header", "s", o.selector})
		}
		if o.b != "" {
			ar.Props = append(ar.Props, prop{"header", "b", o.b})
		}
		out = append(out, ar)
	}
	return out
}

func (c *Checker) judgeDKIM(res *Result, list []dkimOutcome, dm dmarcOutcome) {
	var pass, bad bool
	var badDomain string
	for _, o := range list {
		switch o.result {
		case "pass":
			pass = true
		case "fail", "permerror":
			if !bad {
				badDomain = o.domain
			}
			bad = true
		}
	}
	if dm.dkimAligned {
		res.Symbols = append(res.Symbols, Symbol{Name: "DKIM_ALIGNED", Score: scoreDKIMAligned, Detail: dm.fromDomain})
	}
	if bad && !pass {
		res.Symbols = append(res.Symbols, Symbol{Name: "DKIM_INVALID", Score: scoreDKIMInvalid, Detail: badDomain})
		if c.opts.DKIM == ModeReject {
			// RFC 7372 §3.1: 5.7.20 no passing DKIM signature found.
			rejectIfFirst(res, reply.New(550, "5.7.20", "No valid DKIM signature found"))
		}
	}
}
