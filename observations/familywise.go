package observations

import (
	"fmt"
	"math"
	"slices"
)

// Family-wise control of the per-observation outlier test.
const (
	// ControlNone flags |zᵢ| > k for each observation on its own: with p
	// independent N(0, 1) scores a batch has some flag with probability
	// 1 − (1 − 2Φ(−k))ᵖ (10% for k = 3, p = 40).
	ControlNone = "none"
	// ControlBonferroni flags pᵢ ≤ α/m, pᵢ = 2Φ(−|zᵢ|), over the m scores
	// given: the probability that an in-distribution batch has any flag is
	// at most α (Bonferroni's inequality, for any dependence).
	ControlBonferroni = "bonferroni"
	// ControlBH is the Benjamini–Hochberg step-up procedure: with the
	// p-values sorted, p₍₁₎ ≤ … ≤ p₍ₘ₎, it flags the j* smallest, j* the
	// largest j with p₍ⱼ₎ ≤ jα/m. It controls the false discovery rate at
	// α (independent or positively dependent scores), and under the global
	// null, when every flag is false, that rate is the probability of any
	// flag: an in-distribution batch is flagged with probability ≤ α.
	ControlBH = "bh"
)

// OutlierPValue is the two-sided p-value 2Φ(−|z|) = erfc(|z|/√2) of a
// standardised score z.
func OutlierPValue(z float64) float64 { return math.Erfc(math.Abs(z) / math.Sqrt2) }

// FamilywiseOutliers sets flags[i] for the scores z (NaN: not given, never
// flagged) that the control at level alpha flags, and returns the batch
// p-value (the smallest adjusted p-value: m·p₍₁₎ for Bonferroni,
// minⱼ m p₍ⱼ₎/j for BH, each capped at 1; the batch has a flag iff it is
// ≤ alpha) and the cut: the scores with |z| ≥ cut are flagged (+Inf when
// none can be: BH with no flag).
// control is ControlBonferroni or ControlBH.
func FamilywiseOutliers(flags []bool, z []float64, alpha float64, control string) (batchP, cut float64, err error) {
	if len(flags) != len(z) {
		panic(fmt.Sprintf("observations: FamilywiseOutliers: %d flags for %d scores", len(flags), len(z)))
	}
	if !(alpha > 0 && alpha < 1) {
		return 0, 0, fmt.Errorf("observations: family-wise level %v must be in (0, 1)", alpha)
	}
	p := make([]float64, 0, len(z))
	for _, v := range z {
		if !math.IsNaN(v) {
			p = append(p, OutlierPValue(v))
		}
	}
	for i := range flags {
		flags[i] = false
	}
	if len(p) == 0 {
		return 1, math.Inf(1), nil
	}
	m := float64(len(p))
	slices.Sort(p)
	batchP, pcut, some := 1.0, 0.0, false // flag pᵢ ≤ pcut if some
	switch control {
	case ControlBonferroni:
		batchP, pcut, some = math.Min(1, m*p[0]), alpha/m, true
	case ControlBH:
		for j, v := range p {
			batchP = math.Min(batchP, m*v/float64(j+1))
			if v <= float64(j+1)*alpha/m {
				pcut, some = v, true
			}
		}
	default:
		return 0, 0, fmt.Errorf("observations: family-wise control %q: want %s or %s", control, ControlBonferroni, ControlBH)
	}
	if !some {
		return batchP, math.Inf(1), nil
	}
	cut = math.Sqrt2 * math.Erfcinv(pcut) // +Inf for a p-value that underflowed
	for i, v := range z {
		if flags[i] = !math.IsNaN(v) && OutlierPValue(v) <= pcut; flags[i] {
			cut = math.Min(cut, math.Abs(v))
		}
	}
	return batchP, cut, nil
}
