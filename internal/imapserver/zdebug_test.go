package imapserver

import (
	"net"
	"os/exec"
	"testing"
)

func TestZDebug(t *testing.T) {
	e := newEnv(t, envOptions{})
	host, port, _ := net.SplitHostPort(e.addr)
	out, err := exec.Command("python3", "-c", `
import socket, zlib, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
f = s.makefile('rb')
print(f.readline())
s.sendall(b'a LOGIN alice@example.org "correct horse battery"\r\n'); print(f.readline())
s.sendall(b'b COMPRESS DEFLATE\r\n'); print(f.readline())
c = zlib.compressobj(6, zlib.DEFLATED, -15); d = zlib.decompressobj(-15)
s.sendall(c.compress(b'c NAMESPACE\r\n') + c.flush(zlib.Z_SYNC_FLUSH))
s.settimeout(3)
print(d.decompress(s.recv(1000)))
`, host, port).CombinedOutput()
	t.Logf("%s %v", out, err)
}
