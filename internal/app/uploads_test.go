package app

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestPostgresNodesJMAPUpload: two nodes on one PostgreSQL store; a blob
// uploaded to node A is imported with Email/import on node B and
// downloaded from B (nodes keep nothing of their own, RFC 8620 §6.1).
func TestPostgresNodesJMAPUpload(t *testing.T) {
	_, a, b := postgresNodes(t)
	ca := newJMAPClient(t, a, "kate@example.test")
	cb := newJMAPClient(t, b, "kate@example.test")
	raw := "From: kate@example.test\r\nTo: bob@example.test\r\nSubject: Across nodes\r\n\r\nUploaded on A.\r\n"
	resp := ca.do("POST", "/jmap/upload/"+ca.acct+"/", "message/rfc822", strings.NewReader(raw))
	var up struct {
		BlobID string `json:"blobId"`
		Size   int    `json:"size"`
	}
	json.NewDecoder(resp.Body).Decode(&up)
	resp.Body.Close()
	if resp.StatusCode != 201 || up.Size != len(raw) {
		t.Fatalf("upload to node A: %d %+v", resp.StatusCode, up)
	}
	r := cb.do("GET", "/jmap/download/"+cb.acct+"/"+up.BlobID+"/m.eml", "", nil)
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("download of A's upload from node B: %d", r.StatusCode)
	}
	mboxes := cb.args(`[["Mailbox/query",{"accountId":"ACCT","filter":{"role":"archive"}},"q"]]`, "Mailbox/query")
	archive := mboxes["ids"].([]any)[0].(string)
	imp := cb.args(`[["Email/import",{"accountId":"ACCT","emails":{"k":{"blobId":"`+up.BlobID+`","mailboxIds":{"`+archive+`":true}}}},"i"]]`, "Email/import")
	created, ok := imp["created"].(map[string]any)["k"].(map[string]any)
	if !ok {
		t.Fatalf("Email/import on node B: %v", imp)
	}
	get := ca.args(`[["Email/get",{"accountId":"ACCT","ids":["`+created["id"].(string)+`"],"properties":["subject"]},"g"]]`, "Email/get")
	if list := get["list"].([]any); len(list) != 1 || list[0].(map[string]any)["subject"] != "Across nodes" {
		t.Fatalf("imported email seen on node A: %v", get)
	}
}
