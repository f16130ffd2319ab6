package temporalclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/latentda/latentda/workflows"
)

// PrepareNamespace readies a cluster for latentda (`latentda setup`): it
// registers namespace if it does not exist (with the retention), adds the
// search attributes and waits until the frontend accepts queries naming
// them. It connects with connect and retries each step for up to wait
// while the server is starting; usage errors (ErrUsage) stop at once.
func PrepareNamespace(ctx context.Context, connect func(context.Context) (*Connection, error), namespace string, retention, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait+10*time.Second)
	defer cancel()
	deadline := time.Now().Add(wait)
	var conn *Connection
	var err error
	// retry runs step until it succeeds, the wait is over, or the error
	// is one that waiting cannot fix.
	retry := func(what string, step func() error) error {
		for {
			err := step()
			if err == nil {
				return nil
			}
			if errors.Is(err, ErrUsage) || time.Now().After(deadline) || ctx.Err() != nil {
				if strings.HasPrefix(err.Error(), what) {
					return err // it names the step already
				}
				return fmt.Errorf("%s: %w", what, err)
			}
			// A server starting, or a new namespace still reaching the
			// server's caches.
			slog.Info("not ready yet, retrying", "step", what, "error", err)
			select {
			case <-time.After(2 * time.Second):
			case <-ctx.Done():
				return fmt.Errorf("%s: %w", what, ctx.Err())
			}
		}
	}
	if err = retry("connect", func() error {
		conn, err = connect(ctx)
		return err
	}); err != nil {
		return err
	}
	defer conn.Close()
	svc := conn.Client.WorkflowService()
	err = retry("register namespace "+namespace, func() error {
		_, err := svc.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
		var nf *serviceerror.NamespaceNotFound
		if !errors.As(err, &nf) {
			return err
		}
		_, err = svc.RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace:                        namespace,
			WorkflowExecutionRetentionPeriod: durationpb.New(retention),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if err == nil || errors.As(err, &exists) {
			slog.Info("registered namespace", "namespace", namespace, "retention", retention)
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	// A new namespace reaches the other services' caches within seconds.
	if err := retry("add search attributes", func() error {
		return RegisterSearchAttributes(ctx, conn.Client, namespace)
	}); err != nil {
		return err
	}
	// The frontend validates new runs against its cached copy of the
	// mapping, which lags the registration by up to its refresh interval:
	// wait until a query naming every attribute is accepted.
	if err := retry("wait for the search attributes", func() error {
		_, err := svc.ListWorkflowExecutions(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: namespace, PageSize: 1, Query: SearchAttributeProbe(),
		})
		return err
	}); err != nil {
		return err
	}
	slog.Info("namespace ready for latentda", "namespace", namespace)
	return nil
}

// SearchAttributeProbe is a visibility query that names every latentda
// search attribute; the server rejects it until all are known.
func SearchAttributeProbe() string {
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
