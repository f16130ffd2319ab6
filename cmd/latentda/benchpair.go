package main

import (
	"github.com/spf13/cobra"

	"github.com/latentda/latentda/bench"
)

func newBenchPairCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "pair A.json B.json",
		Short: "Set the rows of one bench latent report against another's, seed by seed on the same evaluation seeds; prints Markdown",
		Long: `Reads two JSON reports of latentda bench latent scored on the same
evaluation seeds (two adaptive schemes, say, each with its own tuning) and
prints, for every row they share, B − A RMSE paired seed by seed over the
seeds both kept, with its 95% confidence interval:

  latentda bench pair docs/results-latent-enkf-n-local-innovation-tune400-fresh61.json docs/results-latent-enkf-n-memory-fresh61.json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := bench.ReadLatentReportFile(args[0])
			if err != nil {
				return err
			}
			b, err := bench.ReadLatentReportFile(args[1])
			if err != nil {
				return err
			}
			return bench.WritePairedReports(cmd.OutOrStdout(), a, b, args[0], args[1])
		},
	}
}
