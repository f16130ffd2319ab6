package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/latentda/latentda/internal/temporalclient"
)

// setupOptions holds the flags of `latentda setup`.
type setupOptions struct {
	connOptions
	Retention time.Duration
	Wait      time.Duration
}

func newSetupCmd() *cobra.Command {
	o := &setupOptions{}
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Prepare a Temporal cluster for latentda: register the namespace and the search attributes",
		Long: `Registers --namespace on the cluster at --address if it does not exist (with
--retention), then adds latentda's search attributes to it. Safe to run again.
It retries for up to --wait while the server is starting, so it can run as a
one-shot container or Kubernetes Job next to a new cluster.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Retention < time.Hour {
				return usageError{fmt.Errorf("--retention must be at least 1h, got %s", o.Retention)}
			}
			if o.Wait < 0 {
				return usageError{fmt.Errorf("--wait must be >= 0, got %s", o.Wait)}
			}
			return o.Run(cmd.Context())
		},
	}
	o.addFlags(cmd, false)
	cmd.Flags().DurationVar(&o.Retention, "retention", 72*time.Hour, "how long the namespace keeps closed workflows' histories")
	cmd.Flags().DurationVar(&o.Wait, "wait", 2*time.Minute, "keep retrying this long while the server is not ready")
	return cmd
}

func (o *setupOptions) Run(ctx context.Context) error {
	// Bad certificate files do not get better by waiting.
	if _, err := o.TLS.config(); err != nil {
		return err
	}
	return temporalclient.PrepareNamespace(ctx, func(ctx context.Context) (*temporalclient.Connection, error) {
		return o.connect(ctx, false)
	}, o.Namespace, o.Retention, o.Wait)
}
