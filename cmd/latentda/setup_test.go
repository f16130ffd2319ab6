package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/latentda/latentda/internal/temporalclient"
)

func TestSetupBadInput(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		want  string
		usage bool
	}{
		{[]string{"setup", "--retention", "30m"}, "--retention must be at least 1h", true},
		{[]string{"setup", "--wait", "-1s"}, "--wait must be >= 0", true},
		// Certificate problems fail at once instead of being retried for --wait.
		{[]string{"setup", "--address", "127.0.0.1:1", "--tls-ca-path", "/nonexistent/ca.pem"}, "--tls-ca-path", false},
		{[]string{"setup", "--address", "127.0.0.1:1", "--tls-cert-path", "c.pem"}, "go together", true},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, _, err := execute(t, append(tc.args, "--state-dir", t.TempDir())...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			var ue usageError
			if errors.As(err, &ue) != tc.usage {
				t.Errorf("usage error %v, want %v", errors.As(err, &ue), tc.usage)
			}
			// The retry loop wraps what it gave up on with its step name.
			if strings.HasPrefix(err.Error(), "connect:") {
				t.Errorf("the error went through the retry loop: %v", err)
			}
		})
	}
}

// TestSetupNoServer: with no server, setup gives up after --wait and says
// where it tried to connect, once.
func TestSetupNoServer(t *testing.T) {
	_, _, err := execute(t, "setup", "--address", "127.0.0.1:1", "--wait", "0s", "--state-dir", t.TempDir())
	if err == nil || !strings.HasPrefix(err.Error(), "connect to Temporal at 127.0.0.1:1") {
		t.Errorf("got %v, want it to start with the connection it tried", err)
	}
}

func TestSearchAttributeProbe(t *testing.T) {
	want := "LatentdaCycle = 0 AND LatentdaFlagged = 0 AND LatentdaModel = 'probe' AND LatentdaRmseA = 0 AND LatentdaStatus = 'probe'"
	if got := temporalclient.SearchAttributeProbe(); got != want {
		t.Errorf("probe %q, want %q", got, want)
	}
}
