package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/latentda/latentda/internal/temporalclient"
	"github.com/latentda/latentda/workflows"
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
	ctx, cancel := context.WithTimeout(ctx, o.Wait+10*time.Second)
	defer cancel()
	deadline := time.Now().Add(o.Wait)
	var conn *temporalclient.Connection
	var err error
	// retry runs step until it succeeds, the wait is over, or the error
	// is one that waiting cannot fix.
	retry := func(what string, step func() error) error {
		for {
			err := step()
			if err == nil {
				return nil
			}
			var ue usageError
			if errors.As(err, &ue) || time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			slog.Info("waiting for the Temporal server", "step", what, "error", err)
			select {
			case <-time.After(2 * time.Second):
			case <-ctx.Done():
				return fmt.Errorf("%s: %w", what, ctx.Err())
			}
		}
	}
	if err = retry("connect", func() error {
		conn, err = o.connect(ctx, false)
		return err
	}); err != nil {
		return err
	}
	defer conn.Close()
	svc := conn.Client.WorkflowService()
	err = retry("register namespace "+o.Namespace, func() error {
		_, err := svc.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: o.Namespace})
		var nf *serviceerror.NamespaceNotFound
		if !errors.As(err, &nf) {
			return err
		}
		_, err = svc.RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace:                        o.Namespace,
			WorkflowExecutionRetentionPeriod: durationpb.New(o.Retention),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if err == nil || errors.As(err, &exists) {
			slog.Info("registered namespace", "namespace", o.Namespace, "retention", o.Retention)
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	// A new namespace reaches the other services' caches within seconds.
	if err := retry("add search attributes", func() error {
		return temporalclient.RegisterSearchAttributes(ctx, conn.Client, o.Namespace)
	}); err != nil {
		return err
	}
	// The frontend validates new runs against its cached copy of the
	// mapping, which lags the registration by up to its refresh interval:
	// wait until a query naming every attribute is accepted.
	if err := retry("wait for the search attributes", func() error {
		_, err := svc.ListWorkflowExecutions(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: o.Namespace, PageSize: 1, Query: searchAttributeProbe(),
		})
		return err
	}); err != nil {
		return err
	}
	slog.Info("namespace ready for latentda", "namespace", o.Namespace)
	return nil
}

// searchAttributeProbe is a visibility query that names every latentda
// search attribute; the server rejects it until all are known.
func searchAttributeProbe() string {
	var terms []string
	for name, t := range workflows.SearchAttributes() {
		v := "0"
		if t == enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			v = "'probe'"
		}
		terms = append(terms, name+" = "+v)
	}
	slices.Sort(terms)
	return strings.Join(terms, " AND ")
}
