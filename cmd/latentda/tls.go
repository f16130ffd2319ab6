package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
)

// tlsOptions are the flags for TLS, mutual TLS and API keys, named like the
// temporal CLI's, with the same environment variables (the current names
// first, then the older short ones).
type tlsOptions struct {
	Enable     optBool
	CertPath   string
	KeyPath    string
	CAPath     string
	ServerName string
	// DisableHostVerification skips the check of the server's certificate.
	DisableHostVerification bool
	APIKey                  string

	envErr error // a bad TEMPORAL_TLS value, reported by config
}

// optBool is a boolean flag that remembers whether it was given, so that
// --tls=false can turn off the TLS that other options imply.
type optBool struct{ set, val bool }

func (b *optBool) String() string { return strconv.FormatBool(b.val) }
func (b *optBool) Type() string   { return "bool" }
func (b *optBool) IsBoolFlag() bool {
	return true
}

func (b *optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false, got %q", s)
	}
	b.set, b.val = true, v
	return nil
}

func (t *tlsOptions) addFlags(cmd *cobra.Command) {
	if v := os.Getenv("TEMPORAL_TLS"); v != "" {
		if err := t.Enable.Set(v); err != nil {
			t.envErr = usageError{fmt.Errorf("TEMPORAL_TLS: %w", err)}
		}
	}
	f := cmd.Flags()
	f.Var(&t.Enable, "tls", "connect with TLS; implied by the other --tls-* options and --api-key, --tls=false turns it off (env TEMPORAL_TLS)")
	f.Lookup("tls").NoOptDefVal = "true"
	f.StringVar(&t.CertPath, "tls-cert-path", envFirst("TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CERT"), "client certificate (PEM) for mutual TLS (env TEMPORAL_TLS_CLIENT_CERT_PATH or TEMPORAL_TLS_CERT)")
	f.StringVar(&t.KeyPath, "tls-key-path", envFirst("TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_KEY"), "client private key (PEM) for mutual TLS (env TEMPORAL_TLS_CLIENT_KEY_PATH or TEMPORAL_TLS_KEY)")
	f.StringVar(&t.CAPath, "tls-ca-path", envFirst("TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_CA"), "CA certificates (PEM) that sign the server's certificate; default: the system roots (env TEMPORAL_TLS_SERVER_CA_CERT_PATH or TEMPORAL_TLS_CA)")
	f.StringVar(&t.ServerName, "tls-server-name", os.Getenv("TEMPORAL_TLS_SERVER_NAME"), "server name to verify the server's certificate against; default: the host of --address (env TEMPORAL_TLS_SERVER_NAME)")
	dhv, _ := strconv.ParseBool(os.Getenv("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION"))
	f.BoolVar(&t.DisableHostVerification, "tls-disable-host-verification", dhv, "do not verify the server's certificate (testing only) (env TEMPORAL_TLS_DISABLE_HOST_VERIFICATION)")
	f.StringVar(&t.APIKey, "api-key", os.Getenv("TEMPORAL_API_KEY"), "API key sent as a bearer token with every request, e.g. for Temporal Cloud (env TEMPORAL_API_KEY)")
}

// configured reports whether any TLS or API key option is given.
func (t *tlsOptions) configured() bool {
	return t.Enable.val || t.CertPath != "" || t.KeyPath != "" || t.CAPath != "" ||
		t.ServerName != "" || t.DisableHostVerification || t.APIKey != ""
}

// config builds the client's TLS configuration, nil for a plaintext
// connection. Files that cannot be read or parsed are errors naming the
// flag and the file.
func (t *tlsOptions) config() (*tls.Config, error) {
	if t.envErr != nil && !t.Enable.set {
		return nil, t.envErr
	}
	on := t.configured()
	if t.Enable.set {
		on = t.Enable.val
	}
	if !on {
		if t.CertPath != "" || t.KeyPath != "" || t.CAPath != "" {
			return nil, usageError{errors.New("--tls=false contradicts the --tls-*-path options")}
		}
		return nil, nil
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.DisableHostVerification,
	}
	if (t.CertPath == "") != (t.KeyPath == "") {
		return nil, usageError{errors.New("--tls-cert-path and --tls-key-path go together (mutual TLS needs both)")}
	}
	if t.CertPath != "" {
		cert, err := tls.LoadX509KeyPair(t.CertPath, t.KeyPath)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert-path %s / --tls-key-path %s: %w", t.CertPath, t.KeyPath, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if t.CAPath != "" {
		pem, err := os.ReadFile(t.CAPath)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca-path: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca-path %s: no PEM certificate in the file", t.CAPath)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// apply sets the TLS configuration and the API key credentials on opts.
func (t *tlsOptions) apply(opts *client.Options) error {
	cfg, err := t.config()
	if err != nil {
		return err
	}
	opts.ConnectionOptions.TLS = cfg
	if t.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(t.APIKey)
	}
	return nil
}
