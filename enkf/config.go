package enkf

import (
	"fmt"
	"math"
)

// Method names an analysis scheme.
type Method string

// The analysis schemes.
const (
	ETKF  Method = "etkf"  // ensemble transform KF, symmetric square root
	EnKF  Method = "enkf"  // stochastic EnKF with perturbed observations
	DEnKF Method = "denkf" // deterministic EnKF of Sakov and Oke (2008)
	LETKF Method = "letkf" // local ETKF with Gaspari–Cohn tapering
)

// Methods lists the known schemes in a stable order.
var Methods = []Method{ETKF, EnKF, DEnKF, LETKF}

// Config selects and tunes an analysis scheme.
type Config struct {
	Method Method
	// Inflation multiplies the analysis anomalies (1 = none).
	Inflation float64
	// Adaptive, if set, inflates the forecast anomalies of every analysis
	// by the finite-size EnKF-N's estimate (see EnKFN); Inflation still
	// multiplies the analysis anomalies afterwards (1 for none).
	Adaptive *EnKFN
	// Innovation, if set, inflates the forecast anomalies of every
	// analysis by the innovation-based estimate carried between analyses
	// (see InnovationInflation; for the LETKF one global factor, or with
	// Local one per local analysis).
	//
	// With both set, the EnKF-N solves its dual on the forecast already
	// inflated by the innovation estimate Λ, so that the anomalies are
	// inflated by √Λ·λ: the hybrid EnKF-N of Raanes, Bocquet and Carrassi
	// (2019), in which the EnKF-N accounts for sampling error and the
	// estimate carried between cycles for the rest (model error,
	// nonlinearity between analyses). Λ is estimated from the forecast
	// before the EnKF-N's λ, as Innovation alone would.
	Innovation *InnovationInflation
	// HybridWeight, if set, estimates the weight α of the localised
	// hybrid's covariance from the innovations of every analysis (see
	// HybridWeightEstimate) in place of Hybrid.Alpha, which is then not
	// read.
	HybridWeight *HybridWeightEstimate
	// Rotate applies a random mean-preserving orthogonal rotation to the
	// analysis anomalies each cycle.
	Rotate bool
	// LocRadius is the LETKF localisation radius in grid units (in the
	// units of Coords if set), with the DAPPER convention: the
	// Gaspari–Cohn half-width is c = 1.82·LocRadius, so the taper is
	// exp(-1/2)-ish at LocRadius and zero beyond 2c.
	LocRadius float64
	// BatchSize groups this many neighbouring grid points into one local
	// analysis (LETKF only; default 1). Their distance to an observation is
	// the mean over the batch.
	BatchSize int
	// WeightStride, if above 1, runs the local analyses of every
	// WeightStride-th batch only (batches 0, s, 2s, …) and gives each batch
	// between two of them the linear interpolation of their transforms, in
	// batch index around the periodic domain (weight interpolation, Yang,
	// Kalnay, Hunt and Bowler 2009); it must be below the number of
	// batches (LETKF only; default 1: every batch its own local analysis).
	// With BatchSize b the analysed points are b·WeightStride apart.
	WeightStride int
	// BlowUp is the magnitude beyond which an analysis is declared diverged
	// (default 1e8).
	BlowUp float64
	// Coords places the state variables for the LETKF's localisation (nil:
	// variable j at j, on a ring of length n). With Coords, the observation
	// positions given to New are coordinates too, and LocRadius is in
	// their units.
	Coords *Coordinates
}

// Coordinates are the positions of the state variables on a line, or on
// a circle if Period > 0.
type Coordinates struct {
	// Of holds the coordinate of each state variable.
	Of []float64
	// Period is the length of a periodic domain (distances wrap around
	// it), or 0 for a line.
	Period float64
}

// validate checks the coordinates of n state variables.
func (c *Coordinates) validate(n int) error {
	if len(c.Of) != n {
		return fmt.Errorf("enkf: letkf: %d coordinates for %d state variables", len(c.Of), n)
	}
	if !(c.Period >= 0) || math.IsInf(c.Period, 0) {
		return fmt.Errorf("enkf: letkf: the period of the coordinates must be finite and >= 0, got %v", c.Period)
	}
	for j, x := range c.Of {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("enkf: letkf: state variable %d has coordinate %v", j, x)
		}
	}
	return nil
}

// DefaultBlowUp is the divergence threshold used when Config.BlowUp is 0.
const DefaultBlowUp = 1e8

// Validate reports the first invalid field of c.
func (c Config) Validate() error {
	switch c.Method {
	case ETKF, EnKF, DEnKF, LETKF:
	default:
		return fmt.Errorf("enkf: unknown method %q (want one of %v)", c.Method, Methods)
	}
	if !(c.Inflation > 0) || math.IsInf(c.Inflation, 0) {
		return fmt.Errorf("enkf: inflation must be a finite number > 0, got %v", c.Inflation)
	}
	if a := c.Adaptive; a != nil && (!(a.XN >= 0) || math.IsInf(a.XN, 0)) {
		return fmt.Errorf("enkf: the EnKF-N hyperprior weight xN must be finite and >= 0, got %v", a.XN)
	}
	if a := c.Adaptive; a != nil && (a.Memory < 0 || a.Memory > 1 && c.Method != LETKF) {
		return fmt.Errorf("enkf: the EnKF-N's memory must be >= 0, and above 1 only for the letkf's local EnKF-N; got %d with %s", a.Memory, c.Method)
	}
	if c.Innovation != nil {
		if err := c.Innovation.validate(); err != nil {
			return err
		}
		if c.Innovation.Local && c.Method != LETKF {
			return fmt.Errorf("enkf: the local innovation inflation is for the letkf, not %s", c.Method)
		}
	}
	if c.HybridWeight != nil {
		if err := c.HybridWeight.validate(c); err != nil {
			return err
		}
	}
	if c.Method == LETKF {
		if !(c.LocRadius > 0) || math.IsInf(c.LocRadius, 0) {
			return fmt.Errorf("enkf: letkf needs a finite localisation radius > 0, got %v", c.LocRadius)
		}
		if c.BatchSize < 0 {
			return fmt.Errorf("enkf: batch size must be >= 0, got %d", c.BatchSize)
		}
		if c.WeightStride < 0 {
			return fmt.Errorf("enkf: weight stride must be >= 0, got %d", c.WeightStride)
		}
		if c.Coords != nil && c.Coords.Period == 0 && c.WeightStride > 1 {
			return fmt.Errorf("enkf: weight stride %d needs a periodic domain (it interpolates from the last batch to the first), and the coordinates are not periodic", c.WeightStride)
		}
	} else if c.WeightStride > 1 {
		return fmt.Errorf("enkf: weight stride %d is for the letkf, not %s", c.WeightStride, c.Method)
	}
	if c.BlowUp < 0 || math.IsNaN(c.BlowUp) {
		return fmt.Errorf("enkf: blow-up threshold must be >= 0, got %v", c.BlowUp)
	}
	return nil
}
