package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/latentda/latentda/internal/temporalclient"
)

func newDevCmd() *cobra.Command {
	var o connOptions
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the embedded Temporal server, its UI and a worker until interrupted",
		Long: `Starts the embedded Temporal dev server (SQLite under --state-dir), the web UI
and a latentda worker, and serves until Ctrl-C. Other latentda commands reach it
with --address 127.0.0.1:7233. Runs interrupted earlier resume here.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Address = ""
			if err := o.complete(); err != nil {
				return err
			}
			conn, err := o.connect(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer conn.Close()
			fmt.Fprintf(cmd.ErrOrStderr(), "Temporal frontend: %s (namespace %s)\n", conn.Server.FrontendAddress(), o.Namespace)
			return serve(cmd, conn, o)
		},
	}
	o.addFlags(cmd, true)
	o.addMetricsFlag(cmd)
	cmd.Flags().StringVar(&o.IP, "ip", "127.0.0.1", "interface the frontend and UI listen on (beyond loopback, anyone who reaches the machine can use them: a warning is printed)")
	cmd.Flags().IntVar(&o.Port, "port", 0, "frontend port (default 7233, or a free port when busy)")
	cmd.Flags().Lookup("address").Hidden = true
	return cmd
}

func newWorkerCmd() *cobra.Command {
	var o connOptions
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a latentda worker against a Temporal cluster until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.complete(); err != nil {
				return err
			}
			conn, err := o.connect(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer conn.Close()
			return serve(cmd, conn, o)
		},
	}
	o.addFlags(cmd, false)
	o.addMetricsFlag(cmd)
	return cmd
}

// serve runs a worker until the command's context ends (Ctrl-C).
func serve(cmd *cobra.Command, conn *temporalclient.Connection, o connOptions) error {
	if err := conn.StartWorker(o.StateDir, o.TaskQueue, o.AllowPaths); err != nil {
		return err
	}
	slog.Info("worker serving; Ctrl-C stops", "task_queue", o.TaskQueue, "namespace", o.Namespace, "state_dir", o.StateDir)
	<-cmd.Context().Done()
	return nil
}
