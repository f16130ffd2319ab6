package devserver

import (
	"bufio"
	"context"
	"encoding/hex"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listeners returns the local addresses of this process's listening TCP
// sockets, from /proc/self/net/tcp and tcp6 (Linux; the sockets of the
// network namespace) and /proc/self/fd (this process's), as "ip:port".
func listeners(t *testing.T) []string {
	t.Helper()
	own := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	for _, fd := range fds {
		if link, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.HasPrefix(link, "socket:[") {
			own[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var out []string
	for _, f := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		file, err := os.Open(f)
		if err != nil {
			t.Skipf("no %s: %v", f, err)
		}
		sc := bufio.NewScanner(file)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" || !own[fields[9]] { // 0A = LISTEN; 9 = inode
				continue
			}
			hexIP, hexPort, _ := strings.Cut(fields[1], ":")
			b, err := hex.DecodeString(hexIP)
			if err != nil {
				t.Fatalf("%s: %q: %v", f, fields[1], err)
			}
			// The kernel prints the address as 32-bit words in host
			// (little-endian) order.
			for i := 0; i+4 <= len(b); i += 4 {
				slices.Reverse(b[i : i+4])
			}
			port, _ := strconv.ParseUint(hexPort, 16, 16)
			out = append(out, net.JoinHostPort(net.IP(b).String(), strconv.Itoa(int(port))))
		}
		file.Close()
	}
	return out
}

// TestListensOnLoopbackOnly starts a server with the UI and default
// options: every socket it listens on (frontend, UI and the internal
// services) is bound to 127.0.0.1, so nothing is reachable from other
// machines unless Options.Host says so.
func TestListensOnLoopbackOnly(t *testing.T) {
	before := listeners(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := Start(ctx, Options{FrontendPort: freePort(t), UIPort: freePort(t), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	var opened []string
	for _, l := range listeners(t) {
		if !slices.Contains(before, l) {
			opened = append(opened, l)
		}
	}
	if len(opened) < 2 {
		t.Fatalf("found %d new listening sockets (%v), want at least the frontend and the UI", len(opened), opened)
	}
	for _, l := range opened {
		host, _, _ := net.SplitHostPort(l)
		if host != "127.0.0.1" {
			t.Errorf("the server listens on %s, not on 127.0.0.1", l)
		}
	}
	for _, a := range []string{srv.FrontendAddress(), strings.TrimPrefix(srv.UIAddress(), "http://")} {
		if !slices.Contains(opened, a) {
			t.Errorf("%s is not among the new listeners %v", a, opened)
		}
	}
	t.Logf("listening on %v", opened)
}
