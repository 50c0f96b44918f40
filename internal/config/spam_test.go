package config

import (
	"strings"
	"testing"
)

func TestSpamSection(t *testing.T) {
	c, err := Load(write(t, "data_dir = \"/d\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Spam != (Spam{JunkScore: 5, RejectScore: 15}) {
		t.Fatalf("default [spam] = %+v", c.Spam)
	}
	c, err = Load(write(t, "data_dir = \"/d\"\n[spam]\nrspamd_url = \"http://127.0.0.1:11333\"\njunk_score = 6.5\nreject_score = 20\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Spam != (Spam{RspamdURL: "http://127.0.0.1:11333", JunkScore: 6.5, RejectScore: 20}) {
		t.Fatalf("[spam] = %+v", c.Spam)
	}
	for body, key := range map[string]string{
		"rspamd_url = \"127.0.0.1:11333\"":     "spam.rspamd_url",
		"rspamd_url = \"ftp://x\"":             "spam.rspamd_url",
		"junk_score = 0":                       "spam.junk_score",
		"junk_score = 10.0\nreject_score = 10": "spam.reject_score",
		"reject_score = 4":                     "spam.reject_score",
		"rspamd = \"http://127.0.0.1:11333\"":  "rspamd",
	} {
		_, err := Load(write(t, "data_dir = \"/d\"\n[spam]\n"+body+"\n"))
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: error %v does not name %s", body, err, key)
		}
	}
}
