// Package scale measures latentda at large state sizes: one full Lorenz-96
// LETKF cycle (forecast, observation operator, analysis, writing the
// analysis ensemble as an Arrow file), built by experiment.Build like any
// run, with its time per stage and peak memory, the speed of the disk the
// ensembles go to, and the cost model of splitting an analysis into blocks
// served by many workers (see docs/scaling.md). Run drives
// `latentda bench scale`, each size in a fresh process (Subprocess) so that
// peak memory is per size.
package scale
