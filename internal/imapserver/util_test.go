package imapserver

import (
	"compress/flate"
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"testing"
)

func itoa(n int) string { return strconv.Itoa(n) }

func ctxSetQuota(t testing.TB, e *testEnv, n int64) {
	t.Helper()
	if err := e.st.SetQuota(context.Background(), e.acct.Address, n); err != nil {
		t.Fatal(err)
	}
}

// flateConn compresses writes (COMPRESS=DEFLATE client side).
type flateConn struct {
	net.Conn
	w *flate.Writer
}

func (f *flateConn) Write(b []byte) (int, error) {
	n, err := f.w.Write(b)
	if err == nil {
		err = f.w.Flush()
	}
	return n, err
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("IMAP_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
