package temporalclient

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWarnExposed: a listener beyond loopback gets a warning naming the
// flag and what it reaches; loopback ones none.
func TestWarnExposed(t *testing.T) {
	var buf bytes.Buffer
	old := warnings
	warnings = &buf
	t.Cleanup(func() { warnings = old })
	for _, tc := range []struct {
		flag, value, host string
		want              string // "" for no warning
	}{
		{"--metrics-addr", ":19090", "", "WARNING: --metrics-addr :19090 listens on every interface"},
		{"--metrics-addr", "0.0.0.0:9090", "0.0.0.0", "listens on every interface"},
		{"--ip", "::", "::", "WARNING: --ip :: listens on every interface"},
		{"--ip", "192.168.1.5", "192.168.1.5", "WARNING: --ip 192.168.1.5 listens on 192.168.1.5, beyond this machine's loopback"},
		{"--metrics-addr", "127.0.0.1:9090", "127.0.0.1", ""},
		{"--metrics-addr", "localhost:9090", "localhost", ""},
		{"--ip", "::1", "::1", ""},
		{"--ip", "127.0.0.2", "127.0.0.2", ""},
	} {
		buf.Reset()
		warnExposed(tc.flag, tc.value, tc.host)
		if got := buf.String(); (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s %s: got %q, want %q", tc.flag, tc.value, got, tc.want)
		}
	}
}

// TestConnectBadAddress: an address that is not host:port is a usage
// error before any dialling.
func TestConnectBadAddress(t *testing.T) {
	for _, addr := range []string{"not an address", "localhost", ":7233", "host:"} {
		_, err := Connect(context.Background(), Options{Address: addr}, false)
		if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "want host:port") {
			t.Errorf("%q: %v", addr, err)
		}
	}
}

// TestOwnerOnlyDB: a new database directory is 0700 and its database
// files 0600 whatever the umask; an existing directory keeps its mode.
func TestOwnerOnlyDB(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "temporal")
	done, err := ownerOnlyDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dev.db", "dev.db-wal"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	done()
	mode := func(p string) os.FileMode {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	if m := mode(dir); m != 0o700 {
		t.Errorf("directory mode %v, want 0700", m)
	}
	for _, name := range []string{"dev.db", "dev.db-wal"} {
		if m := mode(filepath.Join(dir, name)); m != 0o600 {
			t.Errorf("%s mode %v, want 0600", name, m)
		}
	}
	shared := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(shared, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shared, "dev.db"), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	done, err = ownerOnlyDB(shared)
	if err != nil {
		t.Fatal(err)
	}
	done()
	if m := mode(shared); m != 0o750 {
		t.Errorf("existing directory mode %v, want 0750 kept", m)
	}
}
