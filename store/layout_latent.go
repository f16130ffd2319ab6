package store

import "path/filepath"

// LatentForecast is the path of cycle k's forecast latent codes (latent
// runs only), an ensemble file of N members × d.
func (d RunDir) LatentForecast(k int) string {
	return filepath.Join(d.CycleDir(k), "latent_forecast.arrow")
}

// LatentAnalysis is the path of cycle k's analysis latent codes.
func (d RunDir) LatentAnalysis(k int) string {
	return filepath.Join(d.CycleDir(k), "latent_analysis.arrow")
}
