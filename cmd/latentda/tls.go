package main

import (
	"crypto/tls"
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/latentda/latentda/internal/temporalclient"
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

// envError is the error of a bad TEMPORAL_TLS value, unless --tls
// overrides it.
func (t *tlsOptions) envError() error {
	if t.envErr != nil && !t.Enable.set {
		return t.envErr
	}
	return nil
}

// options are the TLS options of package temporalclient.
func (t *tlsOptions) options() temporalclient.TLS {
	o := temporalclient.TLS{
		CertPath: t.CertPath, KeyPath: t.KeyPath, CAPath: t.CAPath, ServerName: t.ServerName,
		DisableHostVerification: t.DisableHostVerification, APIKey: t.APIKey,
	}
	if t.Enable.set {
		o.Enable = &t.Enable.val
	}
	return o
}

// config builds the client's TLS configuration, nil for a plaintext
// connection (see temporalclient.TLS.Config).
func (t *tlsOptions) config() (*tls.Config, error) {
	if err := t.envError(); err != nil {
		return nil, err
	}
	cfg, err := t.options().Config()
	return cfg, asUsage(err)
}
