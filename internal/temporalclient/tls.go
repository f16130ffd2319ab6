package temporalclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"go.temporal.io/sdk/client"
)

// TLS configures TLS, mutual TLS and API keys. The fields are named after
// the latentda CLI's flags (--tls, --tls-cert-path, ...), which the errors
// name.
type TLS struct {
	// Enable turns TLS on or off; nil: on if any other field is set.
	Enable     *bool
	CertPath   string
	KeyPath    string
	CAPath     string
	ServerName string
	// DisableHostVerification skips the check of the server's certificate.
	DisableHostVerification bool
	APIKey                  string
}

// Configured reports whether TLS is asked for, or any TLS or API key
// option is given.
func (t TLS) Configured() bool {
	return t.Enable != nil && *t.Enable || t.CertPath != "" || t.KeyPath != "" || t.CAPath != "" ||
		t.ServerName != "" || t.DisableHostVerification || t.APIKey != ""
}

// Config builds the client's TLS configuration, nil for a plaintext
// connection. Options that contradict each other or miss their partner are
// errors matching ErrUsage; files that cannot be read or parsed are errors
// naming the flag and the file.
func (t TLS) Config() (*tls.Config, error) {
	on := t.Configured()
	if t.Enable != nil {
		on = *t.Enable
	}
	if !on {
		if t.CertPath != "" || t.KeyPath != "" || t.CAPath != "" {
			return nil, usagef("--tls=false contradicts the --tls-*-path options")
		}
		return nil, nil
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.DisableHostVerification,
	}
	if (t.CertPath == "") != (t.KeyPath == "") {
		return nil, usagef("--tls-cert-path and --tls-key-path go together (mutual TLS needs both)")
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
func (t TLS) apply(opts *client.Options) error {
	cfg, err := t.Config()
	if err != nil {
		return err
	}
	opts.ConnectionOptions.TLS = cfg
	if t.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(t.APIKey)
	}
	return nil
}

// ErrUsage is matched (with errors.Is) by the errors of options that
// contradict each other: the caller, not the server, must change.
var ErrUsage = errors.New("temporalclient: contradictory options")

// usageError is an error in the options; its message is the detail alone.
type usageError struct{ msg string }

func (e usageError) Error() string        { return e.msg }
func (e usageError) Is(target error) bool { return target == ErrUsage }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }
