package smtpclient

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// Connection reuse: after a transaction that ended cleanly the session is
// kept open, idle, for the next message to the same destination (as
// Postfix's connection cache does), instead of a new TCP connection,
// greeting, EHLO and STARTTLS per message. A kept session is checked with
// RSET (RFC 5321 §4.1.1.5) before its next transaction and is closed after
// Options.ReuseLimit messages or Options.ReuseIdle without use.

// reuseKey names the sessions that may carry a message: same recipient
// domain (its MTA-STS and DANE state were applied when the session was
// opened), host, address and port, and the same TLS demands of the
// message.
type reuseKey struct {
	domain, host string
	ip           netip.Addr
	port         int
	relay        bool
	requireTLS   bool
	noPolicy     bool
}

func keyOf(t target, ip netip.Addr) reuseKey {
	return reuseKey{domain: t.domain, host: t.name, ip: ip, port: t.port, relay: t.relay != nil, requireTLS: t.requireTLS, noPolicy: t.noPolicy}
}

// idleConn is a kept session and the timer that closes it.
type idleConn struct {
	cn    *conn
	timer *time.Timer
}

// connCache holds idle sessions by destination.
type connCache struct {
	limit int
	idle  time.Duration

	mu    sync.Mutex
	conns map[reuseKey][]*idleConn
}

func newConnCache(limit int, idle time.Duration) *connCache {
	if limit <= 1 {
		return nil
	}
	if idle <= 0 {
		idle = 2 * time.Second
	}
	return &connCache{limit: limit, idle: idle, conns: map[reuseKey][]*idleConn{}}
}

// take returns an idle session for k that answered RSET, or nil. Sessions
// that fail the check are closed.
func (cc *connCache) take(ctx context.Context, k reuseKey) *conn {
	for cc != nil {
		cc.mu.Lock()
		list := cc.conns[k]
		if len(list) == 0 {
			cc.mu.Unlock()
			return nil
		}
		ic := list[len(list)-1]
		list[len(list)-1] = nil
		if list = list[:len(list)-1]; len(list) == 0 {
			delete(cc.conns, k)
		} else {
			cc.conns[k] = list
		}
		cc.mu.Unlock()
		if !ic.timer.Stop() {
			continue // its idle time is up: being closed
		}
		stop := context.AfterFunc(ctx, ic.cn.close)
		rep, err := ic.cn.cmd("RSET")
		if stop() && err == nil && rep.Code == 250 {
			return ic.cn
		}
		ic.cn.close()
	}
	return nil
}

// put keeps cn, which has carried a message more, for reuse; it reports
// false (and cn stays the caller's) when cn has carried its share.
func (cc *connCache) put(k reuseKey, cn *conn) bool {
	if cc == nil {
		return false
	}
	cn.sent++
	if cn.sent >= cc.limit {
		return false
	}
	ic := &idleConn{cn: cn}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	ic.timer = time.AfterFunc(cc.idle, func() { cc.expire(k, ic) })
	cc.conns[k] = append(cc.conns[k], ic)
	return true
}

// expire closes an idle session whose time is up.
func (cc *connCache) expire(k reuseKey, ic *idleConn) {
	cc.mu.Lock()
	list := cc.conns[k]
	for i, x := range list {
		if x == ic {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(cc.conns, k)
	} else {
		cc.conns[k] = list
	}
	cc.mu.Unlock()
	ic.cn.quit()
	ic.cn.close()
}

// Close ends every idle session (QUIT) at once.
func (c *Client) Close() {
	cc := c.cache
	if cc == nil {
		return
	}
	cc.mu.Lock()
	var all []*idleConn
	for k, list := range cc.conns {
		for _, ic := range list {
			if ic.timer.Stop() {
				all = append(all, ic)
			}
		}
		delete(cc.conns, k)
	}
	cc.mu.Unlock()
	for _, ic := range all {
		ic.cn.quit()
		ic.cn.close()
	}
}
