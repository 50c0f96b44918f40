package jmap

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
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
	"pochta/internal/store/sqlite"
)

// newTestServer serves JMAP alone over loopback HTTP, on a real store with
// one account (kate@example.test, "pw"), behind an http.Server with the
// given read/write timeouts.
func newTestServer(t *testing.T, timeout time.Duration, limits Limits) *httptest.Server {
	t.Helper()
	return newTestServerIn(t, timeout, limits, filepath.Join(t.TempDir(), "uploads"))
}

// newTestServerIn is newTestServer keeping uploads in uploadDir.
func newTestServerIn(t *testing.T, timeout time.Duration, limits Limits, uploadDir string) *httptest.Server {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	h, _ := auth.Hash("pw")
	if _, err := st.AddAccount(ctx, "kate@example.test", h); err != nil {
		t.Fatal(err)
	}
	a := auth.New(st, auth.Options{PlaintextOnLoopback: true, MaxConcurrentHashes: 2})
	s := New(Options{Store: st, Login: a.For(auth.ProtoJMAP), PlaintextAllowed: a.PlaintextAllowed, Limits: limits, UploadDir: uploadDir})
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = timeout, timeout
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
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

// TestUploadsOnDisk: an upload is streamed into a file of the upload
// folder (not kept in memory) and downloaded back from it; one above
// maxSizeUpload leaves no file; a server starting anew empties the folder.
func TestUploadsOnDisk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "uploads")
	srv := newTestServerIn(t, 10*time.Second, Limits{MaxSizeUpload: 1 << 20}, dir)
	do := func(method, path string, body io.Reader) (int, string) {
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
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if info, err := e.Info(); err == nil {
				n, size = n+1, size+info.Size()
			}
		}
		return n, size
	}
	content := strings.Repeat("0123456789", 50000) // 500,000 bytes
	code, body := do("POST", "/jmap/upload/a1/", strings.NewReader(content))
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
	if code, got := do("GET", "/jmap/download/a1/"+res.BlobID+"/x.bin", nil); code != 200 || got != content {
		t.Fatalf("download: %d, %d bytes", code, len(got))
	}
	if code, _ := do("POST", "/jmap/upload/a1/", strings.NewReader(strings.Repeat("x", 1<<20+1))); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("upload above the limit: %d", code)
	}
	if n, _ := files(); n != 1 {
		t.Fatalf("%d files after a refused upload, want 1", n)
	}
	newTestServerIn(t, 10*time.Second, Limits{}, dir)
	if n, _ := files(); n != 0 {
		t.Fatalf("%d files after a restart, want 0", n)
	}
}
