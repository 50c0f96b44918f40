package spam

import (
	"context"
	"strings"
	"testing"
)

// BenchmarkClassify: the built-in judgement of one corpus message with a
// trained Bayesian filter (tokenising, one store read, combining).
func BenchmarkClassify(b *testing.B) {
	ctx := context.Background()
	st, acct := openStore(b, "user@example.org")
	f := New(Options{Store: st, Recipients: storeRecipients{st}})
	spamMsgs, hamMsgs := corpus(b, "spam"), corpus(b, "ham")
	for i := 0; i < 40; i++ {
		if err := f.Train(ctx, acct.ID, strings.NewReader(string(spamMsgs[i])), true, false); err != nil {
			b.Fatal(err)
		}
		if err := f.Train(ctx, acct.ID, strings.NewReader(string(hamMsgs[i])), false, false); err != nil {
			b.Fatal(err)
		}
	}
	env := testEnv()
	env.Recipients[0].Address = "user@example.org"
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.Classify(ctx, env, spamMsgs[40+i%20], nil); err != nil {
			b.Fatal(err)
		}
	}
}
