// Package report turns a run directory's Arrow files into pictures: PNG
// plots drawn with gonum/plot (RMSE and spread over cycles, observations
// and flagged observations per cycle, a Hovmöller diagram of truth,
// analysis mean and error for 1-D models, a latent run's generator
// training curve) and a Markdown or HTML page that shows them. The
// `latentda report` command is a thin wrapper around Load and Write.
package report
