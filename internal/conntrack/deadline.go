package conntrack

import (
	"net"
	"time"
)

// DeadlineWriter writes to Conn with a fresh write deadline of Timeout
// before every write, so a peer that stops reading cannot hold a session
// (and its goroutine) forever, while a long transfer gets a timeout per
// block rather than in total (RFC 5321 §4.5.3.2.5 for SMTP's DATA).
type DeadlineWriter struct {
	Conn    net.Conn
	Timeout time.Duration
}

func (d DeadlineWriter) Write(p []byte) (int, error) {
	d.Conn.SetWriteDeadline(time.Now().Add(d.Timeout))
	return d.Conn.Write(p)
}
