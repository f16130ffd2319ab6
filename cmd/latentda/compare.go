package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/latentda/latentda/report"
)

func newCompareCmd() *cobra.Command {
	var o connOptions
	var output string
	cmd := &cobra.Command{
		Use:   "compare RUN_A RUN_B",
		Short: "Print the diagnostics of two runs side by side",
		Long: `Reads the diagnostics of two runs under --state-dir/runs and prints them side
by side, aligned by cycle index, with each run's time-mean RMSE and spread
over the cycles both runs have and score (past both burn-ins): how a rerun
with changed settings compares with the original.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if _, err := stateDirAbs(o.StateDir); err != nil {
				return err
			}
			for _, r := range args {
				if err := checkRunID("run", r); err != nil {
					return err
				}
			}
			runs := make([]string, len(args))
			for i, r := range args {
				dir, err := existingRunDir(o.StateDir, r)
				if err != nil {
					return err
				}
				runs[i] = filepath.Base(dir)
			}
			c, err := report.CompareRuns(filepath.Join(o.StateDir, "runs"), runs[0], runs[1])
			if err != nil {
				return err
			}
			return printComparison(cmd.OutOrStdout(), output, c)
		},
	}
	sd := os.Getenv("LATENTDA_STATE_DIR")
	if sd == "" {
		sd = defaultStateDir
	}
	cmd.Flags().StringVar(&o.StateDir, "state-dir", sd, "directory holding run state (env LATENTDA_STATE_DIR)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func printComparison(w io.Writer, format string, c report.Comparison) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(c)
	}
	return c.WriteText(w)
}
