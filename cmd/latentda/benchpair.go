package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latentda/latentda/bench"
)

// maxDrawSeeds bounds --draw-seeds: each of the 10,000 draws takes that
// many seeds for every row.
const maxDrawSeeds = 1000

func newBenchPairCmd() *cobra.Command {
	var draws int
	cmd := &cobra.Command{
		Use:   "pair A.json B.json [A2.json B2.json ...]",
		Short: "Set the rows of one bench latent report against another's, seed by seed on the same evaluation seeds; prints Markdown",
		Long: `Reads two JSON reports of latentda bench latent scored on the same
evaluation seeds (two adaptive schemes, say, each with its own tuning) and
prints, for every row they share, B − A RMSE paired seed by seed over the
seeds both kept, with its 95% confidence interval:

  latentda bench pair docs/results-latent-enkf-n-local-innovation-tune400-fresh61.json docs/results-latent-enkf-n-memory-fresh61.json

It ends with how much of the count of rows within 5% (issue 16's target)
is chance: the share of draws of the seeds, with replacement, on which
every row is within, for these two methods and for two exchangeable ones
(each seed's two RMSEs traded at random). --draw-seeds asks the same of a
larger set of seeds, say 100:

  latentda bench pair --draw-seeds 100 docs/results-latent-confirm-fresh421.json docs/results-latent-min-inflation-fresh421.json

More pairs, each on its own seeds, are pooled into one set of their seeds
together: sets of one protocol that chose the same configurations (every
row the same in each A report, and in each B report):

  latentda bench pair docs/results-latent-confirm-fresh181.json docs/results-latent-enkf-n-memory-confirm-fresh181.json docs/results-latent-confirm-fresh401.json docs/results-latent-enkf-n-memory-confirm-fresh401.json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 || len(args)%2 != 0 {
				return fmt.Errorf("want pairs of reports, A.json B.json [A2.json B2.json ...], got %d file(s)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if draws < 0 || draws > maxDrawSeeds {
				return usageError{fmt.Errorf("--draw-seeds must be 0 (as many as the reports were scored on) to %d, got %d", maxDrawSeeds, draws)}
			}
			var as, bs []bench.LatentReport
			var aNames, bNames []string
			for i := 0; i < len(args); i += 2 {
				a, err := bench.ReadLatentReportFile(args[i])
				if err != nil {
					return err
				}
				b, err := bench.ReadLatentReportFile(args[i+1])
				if err != nil {
					return err
				}
				if err := bench.SameTruths(a, b, args[i], args[i+1]); err != nil {
					return err
				}
				as, bs = append(as, a), append(bs, b)
				aNames, bNames = append(aNames, args[i]), append(bNames, args[i+1])
			}
			a, err := bench.PoolReports(as, aNames)
			if err != nil {
				return err
			}
			b, err := bench.PoolReports(bs, bNames)
			if err != nil {
				return err
			}
			return bench.WritePairedReports(cmd.OutOrStdout(), a, b, strings.Join(aNames, " + "), strings.Join(bNames, " + "), draws)
		},
	}
	cmd.Flags().IntVar(&draws, "draw-seeds", 0, "seeds in each draw of the count's chance (0: as many as the reports were scored on)")
	return cmd
}
