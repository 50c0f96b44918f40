package jmap

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pochta/internal/auth"
	"pochta/internal/store"
	"pochta/internal/store/sqlite"
)

// newTestServer serves JMAP alone over loopback HTTP, on a real store with
// one account (kate@example.test, "pw"), behind an http.Server with the
// given read/write timeouts.
func newTestServer(t *testing.T, timeout time.Duration, limits Limits) *httptest.Server {
	t.Helper()
	srv, _ := newTestServerIn(t, timeout, limits, t.TempDir())
	return srv
}

// newTestServerIn is newTestServer on the store in dir (made, with the
// account, when new); it returns the store too, closed at the end.
func newTestServerIn(t *testing.T, timeout time.Duration, limits Limits, dir string) (*httptest.Server, *sqlite.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddDomain(ctx, "example.test"); err != nil && !errors.Is(err, store.ErrExists) {
		t.Fatal(err)
	}
	h, _ := auth.Hash("pw")
	if _, err := st.AddAccount(ctx, "kate@example.test", h); err != nil && !errors.Is(err, store.ErrExists) {
		t.Fatal(err)
	}
	a := auth.New(st, auth.Options{PlaintextOnLoopback: true, MaxConcurrentHashes: 2})
	s := New(Options{Store: st, Login: a.For(auth.ProtoJMAP), PlaintextAllowed: a.PlaintextAllowed, Limits: limits, Uploads: st})
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = timeout, timeout
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, st
}

// TestEventSourceOutlivesTimeouts: the push stream is not cut by the HTTP
// server's write timeout (RFC 8620 §7.3 responses are long-lived). The
// server's timeout is 200 ms; pings come every second.
func TestEventSourceOutlivesTimeouts(t *testing.T) {
	srv := newTestServer(t, 200*time.Millisecond, Limits{})
	req, _ := http.NewRequest("GET", srv.URL+"/jmap/eventsource?types=*&closeafter=no&ping=1", nil)
	req.SetBasicAuth("kate@example.test", "pw")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	pings := 0
	for pings < 2 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream cut after %d pings: %v", pings, err)
		}
		if strings.HasPrefix(line, "event: ping") {
			pings++
		}
	}
}

// TestUploadLimit: an upload above maxSizeUpload is refused with the
// limit named, nothing stored.
func TestUploadLimit(t *testing.T) {
	srv := newTestServer(t, 10*time.Second, Limits{MaxSizeUpload: 1000})
	up := func(n int) int {
		req, _ := http.NewRequest("POST", srv.URL+"/jmap/upload/a1/", strings.NewReader(strings.Repeat("x", n)))
		req.SetBasicAuth("kate@example.test", "pw")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := up(1000); code != 201 {
		t.Fatalf("upload at the limit: %d", code)
	}
	if code := up(1001); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("upload above the limit: %d", code)
	}
}

// TestConcurrencyLimits: while one request of an account is still being
// read, a second one over maxConcurrentRequests (or maxConcurrentUpload)
// is refused with the limit named; the first one completes.
func TestConcurrencyLimits(t *testing.T) {
	srv := newTestServer(t, 10*time.Second, Limits{MaxConcurrentRequests: 1, MaxConcurrentUpload: 1})
	cred := base64.StdEncoding.EncodeToString([]byte("kate@example.test:pw"))
	for _, tc := range []struct{ path, body string }{
		{"/jmap/api", `{"using":["urn:ietf:params:jmap:core"],"methodCalls":[["Core/echo",{},"c"]]}`},
		{"/jmap/upload/a1/", "some blob"},
	} {
		// The first request asks for 100-continue: the server sends it
		// when the handler starts reading the body, i.e. after it counted
		// the request.
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n",
			tc.path, cred, len(tc.body))
		r := bufio.NewReader(conn)
		if line, err := r.ReadString('\n'); err != nil || !strings.Contains(line, "100") {
			t.Fatalf("%s: want 100 Continue, got %q %v", tc.path, line, err)
		}
		r.ReadString('\n') // the empty line after the interim response
		req, _ := http.NewRequest("POST", srv.URL+tc.path, strings.NewReader(tc.body))
		req.SetBasicAuth("kate@example.test", "pw")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 || resp.StatusCode == 201 || !strings.Contains(string(b), "maxConcurrent") {
			t.Errorf("%s: second request %d %s", tc.path, resp.StatusCode, b)
		}
		io.WriteString(conn, tc.body)
		first, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		first.Body.Close()
		if first.StatusCode != 200 && first.StatusCode != 201 {
			t.Errorf("%s: first request %d", tc.path, first.StatusCode)
		}
	}
}

// TestUploadsSurviveRestart: an upload is kept in the store (a file of
// its folder, not memory) and downloaded back after the server and its
// store restart (RFC 8620 §6.1: kept at least an hour); one above
// maxSizeUpload leaves nothing; once the account's uploads hold
// uploadsHeld uploads of the largest size, the next is refused with
// overQuota and nothing kept.
func TestUploadsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	lim := Limits{MaxSizeUpload: 1 << 20}
	srv, st := newTestServerIn(t, 10*time.Second, lim, dir)
	do := func(srv *httptest.Server, method, path string, body io.Reader) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, body)
		req.SetBasicAuth("kate@example.test", "pw")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	files := func() (n int, size int64) {
		entries, _ := os.ReadDir(filepath.Join(dir, "uploads"))
		for _, e := range entries {
			if info, err := e.Info(); err == nil {
				n, size = n+1, size+info.Size()
			}
		}
		return n, size
	}
	content := strings.Repeat("0123456789", 50000) // 500,000 bytes
	code, body := do(srv, "POST", "/jmap/upload/a1/", strings.NewReader(content))
	if code != 201 {
		t.Fatalf("upload: %d %s", code, body)
	}
	if n, size := files(); n != 1 || size != int64(len(content)) {
		t.Fatalf("upload folder: %d files, %d bytes", n, size)
	}
	var res struct{ BlobID string }
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	if code, _ := do(srv, "POST", "/jmap/upload/a1/", strings.NewReader(strings.Repeat("x", 1<<20+1))); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("upload above the limit: %d", code)
	}
	if n, _ := files(); n != 1 {
		t.Fatalf("%d files after a refused upload, want 1", n)
	}
	srv.Close()
	st.Close()

	srv, _ = newTestServerIn(t, 10*time.Second, lim, dir)
	if code, got := do(srv, "GET", "/jmap/download/a1/"+res.BlobID+"/x.bin", nil); code != 200 || got != content {
		t.Fatalf("download after restart: %d, %d bytes", code, len(got))
	}
	// 500,000 bytes held; seven uploads of 1 MiB fit in 8 MiB, the
	// eighth does not.
	big := strings.Repeat("y", 1<<20)
	for i := 0; i < 7; i++ {
		if code, body := do(srv, "POST", "/jmap/upload/a1/", strings.NewReader(big)); code != 201 {
			t.Fatalf("upload %d within the cap: %d %s", i, code, body)
		}
	}
	code, body = do(srv, "POST", "/jmap/upload/a1/", strings.NewReader(big))
	if code != http.StatusForbidden || !strings.Contains(body, "urn:ietf:params:jmap:error:overQuota") {
		t.Fatalf("upload over the cap: %d %s", code, body)
	}
	if n, _ := files(); n != 8 {
		t.Fatalf("%d files after a refused upload, want 8", n)
	}
}

// TestUploadCleanup: an upload also removes the store's expired uploads
// (at most every cleanupEvery), their files with them.
func TestUploadCleanup(t *testing.T) {
	dir := t.TempDir()
	srv, st := newTestServerIn(t, 10*time.Second, Limits{}, dir)
	ctx := context.Background()
	acct, err := st.GetAccount(ctx, "kate@example.test")
	if err != nil {
		t.Fatal(err)
	}
	old, _, err := st.PutUpload(ctx, acct.ID, "text/plain", strings.NewReader("old"),
		store.UploadLimits{MaxSize: 10, MaxHeld: 10, TTL: -time.Second})
	if err != nil {
		t.Fatal(err)
	}
	oldFile := filepath.Join(dir, "uploads", old.ID)
	if _, err := os.Stat(oldFile); err != nil {
		t.Fatalf("expired upload's file before the cleanup: %v", err)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/jmap/upload/a1/", strings.NewReader("new"))
	req.SetBasicAuth("kate@example.test", "pw")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("upload: %d", resp.StatusCode)
	}
	if _, err := os.Stat(oldFile); !os.IsNotExist(err) {
		t.Fatalf("expired upload's file after an upload: %v", err)
	}
}
