package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latentda/latentda/report"
)

// reportOptions holds the flags of `latentda report`.
type reportOptions struct {
	StateDir    string
	OutDir      string
	Format      string
	FieldCycles int

	stateDirSet bool // --state-dir given explicitly
	runDir      string
	stateRoot   string
	format      report.Format
}

func newReportCmd() *cobra.Command {
	o := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report RUN",
		Short: "Write plots and a Markdown or HTML page of a run",
		Long: `Reads a run's Arrow files and writes PNG plots and a page showing them: RMSE
and spread over cycles, observations and flagged observations per cycle, a
Hovmöller diagram (grid point × cycle) of truth, analysis mean and error for
1-D models (Lorenz-96, KS), and the generator's training curve for latent runs.

RUN is a run directory or a run ID under --state-dir/runs. The page is
OUT/index.md (or index.html); OUT defaults to the run directory's report/.`,
		Example: `  latentda report l96-etkf-20261125T200000.000Z
  latentda report state/runs/l96 -o /tmp/l96-report --format html`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("report takes one run directory or run ID, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.stateDirSet = cmd.Flags().Changed("state-dir")
			if err := o.Complete(args[0]); err != nil {
				return err
			}
			return o.Run(cmd.OutOrStdout())
		},
	}
	sd := os.Getenv("LATENTDA_STATE_DIR")
	if sd == "" {
		sd = defaultStateDir
	}
	cmd.Flags().StringVar(&o.StateDir, "state-dir", sd, "state directory: where run IDs and latent runs' generator files are looked up (env LATENTDA_STATE_DIR)")
	cmd.Flags().StringVarP(&o.OutDir, "output-dir", "o", "", "directory for the page and plots (default RUN_DIR/report)")
	cmd.Flags().StringVar(&o.Format, "format", "md", "page format: md or html")
	cmd.Flags().IntVar(&o.FieldCycles, "field-cycles", 200, "cycles, from the first, in the Hovmöller diagram (-1: all)")
	return cmd
}

// Complete resolves RUN to a run directory and checks the flags.
func (o *reportOptions) Complete(run string) error {
	f, err := report.ParseFormat(o.Format)
	if err != nil {
		return usageError{fmt.Errorf("--format must be md or html, got %q", o.Format)}
	}
	o.format = f
	if o.FieldCycles == 0 || o.FieldCycles < -1 {
		return usageError{fmt.Errorf("--field-cycles must be >= 1 or -1 (all), got %d", o.FieldCycles)}
	}
	if _, err := stateDirAbs(o.StateDir); err != nil {
		return err
	}
	o.stateRoot = o.StateDir
	if st, err := os.Stat(run); err == nil && st.IsDir() {
		if err := checkRunDir(run); err != nil {
			return err
		}
		o.runDir = run
		if !o.stateDirSet {
			// A run directory is <state>/runs/<id>: its generators are
			// looked up in that state directory.
			o.stateRoot = ""
		}
	} else {
		if strings.ContainsAny(run, `/\`) {
			return fmt.Errorf("run directory %s does not exist", run)
		}
		if err := checkRunID("run", run); err != nil {
			return err
		}
		var err error
		if o.runDir, err = existingRunDir(o.StateDir, run); err != nil {
			return err
		}
	}
	if o.OutDir == "" {
		o.OutDir = filepath.Join(o.runDir, "report")
	}
	return nil
}

func (o *reportOptions) Run(stdout io.Writer) error {
	r, err := report.Load(o.runDir, report.Options{StateRoot: o.stateRoot, FieldCycles: o.FieldCycles})
	if err != nil {
		return err
	}
	page, err := report.Write(r, o.OutDir, o.format)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, page)
	return nil
}

// existingRunDir returns the directory of run under stateDir, or an error
// naming it if it does not exist.
func existingRunDir(stateDir, run string) (string, error) {
	dir := filepath.Join(stateDir, "runs", run)
	_, err := os.Stat(dir)
	// The workflow ID that runs list shows names the same run.
	if id, ok := strings.CutPrefix(run, "latentda-"); ok && errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(filepath.Join(stateDir, "runs", id)); serr == nil {
			return filepath.Join(stateDir, "runs", id), checkRunDir(filepath.Join(stateDir, "runs", id))
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("run %q: no run directory %s (is --state-dir right?)", run, dir)
	}
	if err != nil {
		return "", fmt.Errorf("run %q: %w", run, err)
	}
	return dir, checkRunDir(dir)
}

// checkRunDir refuses a directory that is not a run's: one without the
// config.yaml every run directory starts with.
func checkRunDir(dir string) error {
	_, err := os.Stat(filepath.Join(dir, "config.yaml"))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s is not a run directory: it has no config.yaml (runs are STATE_DIR/runs/RUN_ID)", dir)
	}
	return err
}
