package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
)

// pki is a throw-away CA with a server and a client certificate, written
// as PEM files.
type pki struct {
	caPEM, serverCert, serverKey, clientCert, clientKey string
	server                                              tls.Certificate
	pool                                                *x509.CertPool
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "latentda test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, name string, usage x509.ExtKeyUsage) (certPath, keyPath string) {
		k := key()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			DNSNames: []string{name}, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			KeyUsage: x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name+".pem", "CERTIFICATE", der), write(name+".key", "EC PRIVATE KEY", kder)
	}
	p := pki{caPEM: write("ca.pem", "CERTIFICATE", caDER), pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.serverCert, p.serverKey = leaf(2, "temporal.test", x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = leaf(3, "worker.test", x509.ExtKeyUsageClientAuth)
	if p.server, err = tls.LoadX509KeyPair(p.serverCert, p.serverKey); err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeFrontend is a Temporal frontend that answers only GetSystemInfo (what
// client.Dial calls first) over mutual TLS, and records the authorization
// header it got.
type fakeFrontend struct {
	workflowservice.UnimplementedWorkflowServiceServer
	mu   sync.Mutex
	auth []string
}

func (f *fakeFrontend) GetSystemInfo(ctx context.Context, _ *workflowservice.GetSystemInfoRequest) (*workflowservice.GetSystemInfoResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.auth = append(f.auth, md.Get("authorization")...)
	f.mu.Unlock()
	return &workflowservice.GetSystemInfoResponse{ServerVersion: "fake"}, nil
}

func (f *fakeFrontend) authorization() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.auth...)
}

func startFakeFrontend(t *testing.T, p pki) (*fakeFrontend, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	creds := credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.pool,
		MinVersion:   tls.VersionTLS12,
	})
	s := grpc.NewServer(grpc.Creds(creds))
	f := &fakeFrontend{}
	workflowservice.RegisterWorkflowServiceServer(s, f)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return f, l.Addr().String()
}

// TestTLSConnect dials a mutual-TLS frontend with the options a real
// cluster needs, and checks that missing or wrong credentials fail.
func TestTLSConnect(t *testing.T) {
	p := newPKI(t)
	other := newPKI(t)
	f, addr := startFakeFrontend(t, p)
	good := tlsOptions{CAPath: p.caPEM, CertPath: p.clientCert, KeyPath: p.clientKey, ServerName: "temporal.test", APIKey: "k-123"}
	for _, tc := range []struct {
		name    string
		tls     tlsOptions
		wantErr string
	}{
		{"mutual TLS and API key", good, ""},
		// The server refuses the handshake; with TLS 1.3 the client may see
		// only a broken connection rather than the alert.
		{"no client certificate", tlsOptions{CAPath: p.caPEM, ServerName: "temporal.test"}, "failed reaching server"},
		{"CA that did not sign the server", tlsOptions{CAPath: other.caPEM, CertPath: p.clientCert, KeyPath: p.clientKey, ServerName: "temporal.test"}, "certificate"},
		{"wrong server name", tlsOptions{CAPath: p.caPEM, CertPath: p.clientCert, KeyPath: p.clientKey, ServerName: "elsewhere.test"}, "certificate"},
		{"plaintext", tlsOptions{}, "connect to Temporal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := connOptions{Address: addr, Namespace: "default", TLS: tc.tls}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, err := o.connect(ctx, false)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				conn.Close()
				return
			}
			if err == nil {
				conn.Close()
				t.Fatalf("connected, want an error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
	if got := f.authorization(); len(got) == 0 || got[0] != "Bearer k-123" {
		t.Errorf("authorization headers %q, want Bearer k-123", got)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	p := newPKI(t)
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		tls   tlsOptions
		want  string
		usage bool
	}{
		{"cert without key", tlsOptions{CertPath: p.clientCert}, "--tls-cert-path and --tls-key-path go together", true},
		{"key without cert", tlsOptions{KeyPath: p.clientKey}, "--tls-cert-path and --tls-key-path go together", true},
		{"missing CA file", tlsOptions{CAPath: "/nonexistent/ca.pem"}, "--tls-ca-path: open /nonexistent/ca.pem", false},
		{"CA file without PEM", tlsOptions{CAPath: notPEM}, "no PEM certificate", false},
		{"key of another certificate", tlsOptions{CertPath: p.clientCert, KeyPath: p.serverKey}, "--tls-cert-path " + p.clientCert, false},
		{"missing cert file", tlsOptions{CertPath: "/nonexistent/c.pem", KeyPath: p.clientKey}, "/nonexistent/c.pem", false},
		{"--tls=false with paths", tlsOptions{Enable: optBool{set: true}, CAPath: p.caPEM}, "--tls=false contradicts", true},
		{"bad TEMPORAL_TLS", tlsOptions{envErr: usageError{errors.New("TEMPORAL_TLS: want true or false")}}, "TEMPORAL_TLS", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.tls.config()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			var ue usageError
			if errors.As(err, &ue) != tc.usage {
				t.Errorf("usage error: %v, want %v", errors.As(err, &ue), tc.usage)
			}
		})
	}
}

func TestTLSConfigImplied(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		name    string
		tls     tlsOptions
		wantTLS bool
	}{
		{"nothing", tlsOptions{}, false},
		{"--tls", tlsOptions{Enable: optBool{set: true, val: true}}, true},
		{"API key implies TLS", tlsOptions{APIKey: "k"}, true},
		{"--tls=false keeps an API key in plaintext", tlsOptions{Enable: optBool{set: true}, APIKey: "k"}, false},
		{"CA implies TLS", tlsOptions{CAPath: p.caPEM}, true},
		{"server name implies TLS", tlsOptions{ServerName: "x"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := tc.tls.config()
			if err != nil {
				t.Fatal(err)
			}
			if (cfg != nil) != tc.wantTLS {
				t.Fatalf("TLS config %v, want TLS %v", cfg, tc.wantTLS)
			}
		})
	}
}

func TestTLSFlagsAndEnv(t *testing.T) {
	t.Setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", "")
	t.Setenv("TEMPORAL_TLS_CERT", "/env/old-cert.pem")
	t.Setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", "/env/ca.pem")
	t.Setenv("TEMPORAL_TLS_CA", "/env/old-ca.pem")
	t.Setenv("TEMPORAL_API_KEY", "env-key")
	t.Setenv("TEMPORAL_TLS", "")
	cmd := newWorkerCmd()
	if err := cmd.ParseFlags([]string{"--tls-key-path", "/flag/key.pem", "--tls"}); err != nil {
		t.Fatal(err)
	}
	o := cmd.Flags()
	for flag, want := range map[string]string{
		"tls-cert-path": "/env/old-cert.pem", // the older variable when the newer one is empty
		"tls-ca-path":   "/env/ca.pem",       // the newer variable first
		"tls-key-path":  "/flag/key.pem",
		"api-key":       "env-key",
		"tls":           "true",
	} {
		if got := o.Lookup(flag).Value.String(); got != want {
			t.Errorf("--%s = %q, want %q", flag, got, want)
		}
	}
	t.Setenv("TEMPORAL_TLS", "maybe")
	_, _, err := execute(t, "runs", "list", "--address", "127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "TEMPORAL_TLS") {
		t.Errorf("bad TEMPORAL_TLS: got %v", err)
	}
}

func TestEmbeddedServerRefusesTLS(t *testing.T) {
	dir := t.TempDir()
	_, _, err := execute(t, "dev", "--state-dir", dir, "--api-key", "k")
	var ue usageError
	if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), "need --address") {
		t.Fatalf("got %v, want a usage error about --address", err)
	}
}
