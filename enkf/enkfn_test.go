package enkf

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// dualCost is J(u) of dualU, summed directly.
func dualCost(u float64, sig2, b []float64, dd, n1, eN, cL float64) float64 {
	s := dd
	for k, v := range sig2 {
		s -= u * b[k] * b[k] / (1 + u*v)
	}
	return s/n1 + eN/u + cL*math.Log(u)
}

// TestDualUMinimises checks dualU against a dense scan of J over
// u ∈ [1e-3, 1e3] (20001 points in ln u, spacing 7e-4): the returned u must
// cost no more than the best point of the scan, up to 1e-12 relative.
func TestDualUMinimises(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for _, tc := range []struct {
		name  string
		scale float64 // of the innovations: small ones deflate, large ones inflate
		N     int
	}{
		{"small innovations", 0.2, 10},
		{"consistent", 1, 20},
		{"large innovations", 4, 20},
		{"huge innovations", 30, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig2, b := make([]float64, tc.N), make([]float64, tc.N)
			var dd float64
			for k := range sig2 {
				sig2[k] = 3 * rng.Float64()
				d := tc.scale * rng.NormFloat64()
				b[k] = math.Sqrt(sig2[k]) * d
				dd += d * d
			}
			n1 := float64(tc.N - 1)
			eN, cL := hyperprior(tc.N, float64(tc.N)/2, 1)
			u := dualU(sig2, b, n1, eN, cL)
			best := math.Inf(1)
			for i := 0; i <= 20000; i++ {
				v := math.Exp(-math.Log(1e3) + 2*math.Log(1e3)*float64(i)/20000)
				best = math.Min(best, dualCost(v, sig2, b, dd, n1, eN, cL))
			}
			if got := dualCost(u, sig2, b, dd, n1, eN, cL); got > best+1e-12*math.Abs(best) {
				t.Errorf("J(%v) = %v, above the scan's minimum %v", u, got, best)
			}
		})
	}
}

// enkfnReference is the EnKF-N analysis written out as DAPPER's EnKF_N
// (dual form, Hess=True) states it, with dense gonum linear algebra: the
// SVD of the unnormalised obs anomalies Y R^{-1/2} = V diag(s) Uᵀ, the dual
// in l1 with du = Uᵀ R^{-1/2}(y − ȳ) minimised by Newton's method from 1,
// then E = x̄ + (w + T)(l1 A) with T the inverse square root of the
// Hessian. It returns the analysis and l1.
func enkfnReference(E, HE *mat.Dense, y, r []float64, xN float64) (*mat.Dense, float64) {
	N, n := E.Dims()
	_, p := HE.Dims()
	n1 := float64(N - 1)
	mu, ym := make([]float64, n), make([]float64, p)
	for i := 0; i < N; i++ {
		for j := 0; j < n; j++ {
			mu[j] += E.At(i, j) / float64(N)
		}
		for k := 0; k < p; k++ {
			ym[k] += HE.At(i, k) / float64(N)
		}
	}
	A, Y := mat.NewDense(N, n, nil), mat.NewDense(N, p, nil)
	for i := 0; i < N; i++ {
		for j := 0; j < n; j++ {
			A.Set(i, j, E.At(i, j)-mu[j])
		}
		for k := 0; k < p; k++ {
			Y.Set(i, k, (HE.At(i, k)-ym[k])/math.Sqrt(r[k]))
		}
	}
	dy := make([]float64, p)
	for k := range dy {
		dy[k] = (y[k] - ym[k]) / math.Sqrt(r[k])
	}
	var svd mat.SVD
	if !svd.Factorize(Y, mat.SVDFull) {
		panic("svd")
	}
	s := svd.Values(nil)
	var U, V mat.Dense
	svd.UTo(&V) // N × N: the left singular vectors of Y
	svd.VTo(&U) // p × p
	du := make([]float64, len(s))
	for k := range du {
		for j := 0; j < p; j++ {
			du[k] += U.At(j, k) * dy[j]
		}
	}
	// Hyperprior with mode correction.
	eN, cL := (float64(N)+1)/float64(N), float64(N)/n1
	var ikh float64
	for k := 0; k < N; k++ {
		var s2 float64
		if k < len(s) {
			s2 = s[k] * s[k]
		}
		ikh += n1 / (s2 + n1) / float64(N)
	}
	mc := math.Sqrt(math.Pow(eN/cL, ikh))
	eN, cL = xN*eN/mc, xN*cL*mc
	// Newton on J'(l1) = 0.
	l1 := 1.0
	for range 100 {
		var jp, jpp float64
		for k := range s {
			g := l1*l1*s[k]*s[k] + n1
			jp += -2 * l1 * s[k] * s[k] * du[k] * du[k] / (g * g)
			jpp += 8*l1*l1*math.Pow(s[k], 4)*du[k]*du[k]/(g*g*g) - 2*s[k]*s[k]*du[k]*du[k]/(g*g)
		}
		jp += -2*eN/math.Pow(l1, 3) + 2*cL/l1
		jpp += 6*eN/math.Pow(l1, 4) - 2*cL/(l1*l1)
		step := jp / jpp
		l1 -= step
		if math.Abs(step) < 1e-14 {
			break
		}
	}
	// Pw = (l1² Y Yᵀ + N1 I)⁻¹, w = l1 dy Yᵀ Pw (Y inflated by l1).
	var YYt mat.Dense
	YYt.Mul(Y, Y.T())
	YYt.Scale(l1*l1, &YYt)
	for i := 0; i < N; i++ {
		YYt.Set(i, i, YYt.At(i, i)+n1)
	}
	var Pw mat.Dense
	if err := Pw.Inverse(&YYt); err != nil {
		panic(err)
	}
	ydy := mat.NewVecDense(N, nil)
	ydy.MulVec(Y, mat.NewVecDense(p, dy))
	w := mat.NewVecDense(N, nil)
	w.MulVec(&Pw, ydy)
	w.ScaleVec(l1, w)
	// Hw = l1² Y Yᵀ/N1 + I − 2wwᵀ/(eN + wᵀw), T = Hw^{-1/2}.
	Hw := mat.NewSymDense(N, nil)
	ww := mat.Dot(w, w)
	for i := 0; i < N; i++ {
		for j := i; j < N; j++ {
			v := (YYt.At(i, j)-map[bool]float64{true: n1}[i == j])/n1 - 2*w.AtVec(i)*w.AtVec(j)/(eN+ww)
			if i == j {
				v++
			}
			Hw.SetSym(i, j, v)
		}
	}
	var es mat.EigenSym
	if !es.Factorize(Hw, true) {
		panic("eig")
	}
	var Q mat.Dense
	es.VectorsTo(&Q)
	vals := es.Values(nil)
	T := mat.NewDense(N, N, nil)
	for i := 0; i < N; i++ {
		for j := 0; j < N; j++ {
			var v float64
			for k := range vals {
				v += Q.At(i, k) * Q.At(j, k) / math.Sqrt(vals[k])
			}
			T.Set(i, j, v)
		}
	}
	for i := 0; i < N; i++ {
		for j := 0; j < N; j++ {
			T.Set(i, j, T.At(i, j)+w.AtVec(j))
		}
	}
	var Ea mat.Dense
	Ea.Mul(T, A)
	Ea.Scale(l1, &Ea)
	for i := 0; i < N; i++ {
		for j := 0; j < n; j++ {
			Ea.Set(i, j, Ea.At(i, j)+mu[j])
		}
	}
	return &Ea, l1
}

// TestEnKFNMatchesReference checks the ETKF with adaptive inflation
// against the dense transcription of DAPPER's EnKF-N, on ensembles smaller
// and larger than the state and with under-, well- and over-dispersed
// forecasts. The two solve the same dual to 1e-14 in different variables,
// so λ agrees to ~1e-9 and the analyses to 1e-8 (O(1) values).
func TestEnKFNMatchesReference(t *testing.T) {
	mu, P, H, _, r, pos := testProblem()
	for _, tc := range []struct {
		N      int
		spread float64 // the forecast covariance is spread²·P
		xN     float64
	}{
		{4, 1, 1}, {10, 0.3, 1}, {10, 3, 1}, {30, 1, 2}, {8, 0.5, 0},
	} {
		t.Run(fmt.Sprintf("N=%d/spread=%v/xN=%v", tc.N, tc.spread, tc.xN), func(t *testing.T) {
			var Ps mat.SymDense
			Ps.ScaleSym(tc.spread*tc.spread, P)
			E := gaussianEnsemble(tc.N, mu, &Ps, 13)
			y := []float64{2.5, -1, 3.3}
			want, wantL := enkfnReference(E, applyLinear(H, E), y, r, max(tc.xN, 1))
			f, err := New(Config{Method: ETKF, Inflation: 1, Adaptive: &EnKFN{XN: tc.xN}}, tc.N, 5, pos)
			if err != nil {
				t.Fatal(err)
			}
			inno, err := f.Analyze(E, applyLinear(H, E), y, r, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d := math.Abs(inno.Inflation - wantL); d > 1e-9 {
				t.Errorf("inflation %v, reference %v", inno.Inflation, wantL)
			}
			if d := maxAbsDiffMat(E, want); d > 1e-8 {
				t.Errorf("analysis differs from the reference by %g", d)
			}
		})
	}
}

// TestEnKFNLinearGaussian runs the EnKF-N on the linear model x ← a x,
// a > 1, observed fully (H = I, R = I), with N > n members: there is no
// model error and no rank deficiency, so the ETKF without inflation is the
// Kalman filter of its initial moments and the optimal inflation is 1.
// The Kalman filter's steady state is isotropic, pᵃ = pᶠ/(pᶠ+1),
// pᶠ = a²pᵃ. The EnKF-N's time-mean inflation after a burn-in must be
// within 5% of 1 (measured: 1.010 for a = 1.02, 1.040 for a = 1.1; the
// mode correction pulls it towards 1 but not onto it, and a larger
// hyperprior weight XN pulls harder), and its time-mean RMSE within 8% of
// that of the same scheme without inflation on the same observations (the
// Kalman filter, for the ETKF; measured 5.8–7.2%: the price of learning
// the inflation from a few innovations every cycle).
//
// With model error the EnKF-N does not reach the Kalman filter's inflation:
// its hyperprior treats the forecast ensemble as a sample of the true
// prior, so it corrects sampling error, not a missing Q (with x ← x + η,
// q = 1/2, the Kalman inflation √2 and the EnKF-N's mean 1.06).
func TestEnKFNLinearGaussian(t *testing.T) {
	if testing.Short() {
		t.Skip("2000 cycles per case")
	}
	for _, tc := range []struct {
		method Method
		a      float64
	}{
		{ETKF, 1.02}, {ETKF, 1.1}, {DEnKF, 1.1}, {LETKF, 1.1},
	} {
		t.Run(fmt.Sprintf("%s/a=%v", tc.method, tc.a), func(t *testing.T) {
			n, N, cycles := 10, 30, 2000
			pf := 1.0
			for range 1000 {
				pf = tc.a * tc.a * pf / (pf + 1)
			}
			pa := pf / (pf + 1)
			pos := make([]float64, n)
			for i := range pos {
				pos[i] = float64(i)
			}
			// The LETKF with a radius beyond the domain: every local
			// analysis sees every observation, with tapers near 1.
			cfg := Config{Method: tc.method, Inflation: 1, LocRadius: 100, BatchSize: 5}
			plain, err := New(cfg, N, n, pos)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Adaptive = &EnKFN{}
			f, err := New(cfg, N, n, pos)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(7, 11))
			truth := make([]float64, n)
			E := mat.NewDense(N, n, nil)
			for i := range E.RawMatrix().Data {
				E.RawMatrix().Data[i] = math.Sqrt(pa) * rng.NormFloat64()
			}
			y, r := make([]float64, n), make([]float64, n)
			E0 := mat.DenseCopyOf(E)
			var infl, se, se0 float64
			var count int
			for k := range cycles {
				for j := range truth {
					truth[j] *= tc.a
					y[j] = truth[j] + rng.NormFloat64()
					r[j] = 1
				}
				E.Scale(tc.a, E)
				E0.Scale(tc.a, E0)
				inno, err := f.Analyze(E, E, y, r, nil)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := plain.Analyze(E0, E0, y, r, nil); err != nil {
					t.Fatal(err)
				}
				if k >= 200 {
					e, _ := score(E, truth)
					e0, _ := score(E0, truth)
					infl += inno.Inflation
					se += e * e
					se0 += e0 * e0
					count++
				}
			}
			infl /= float64(count)
			rmse, rmse0 := math.Sqrt(se/float64(count)), math.Sqrt(se0/float64(count))
			if math.Abs(infl-1) > 0.05 {
				t.Errorf("mean inflation %.4f, want 1 within 5%%", infl)
			}
			if math.Abs(rmse-rmse0) > 0.08*rmse0 {
				t.Errorf("rmse %.4f, without inflation %.4f", rmse, rmse0)
			}
			t.Logf("mean inflation %.4f, rmse %.4f (without inflation %.4f, steady-state Kalman √pᵃ %.4f)", infl, rmse, rmse0, math.Sqrt(pa))
		})
	}
}

// TestEnKFNOnInnovation: with both adaptive inflations, the analysis is
// the EnKF-N's on the forecast inflated by the carried innovation
// estimate: with a prior so narrow (σ_b = 1e-9) that Λ stays at its
// carried 1.7, it equals the EnKF-N alone run on the members moved to
// x̄ + √1.7 (x − x̄), and the reported inflation is √1.7 times that run's,
// for the global estimate (ETKF, LETKF) and the local one (LETKF).
// Tolerance 1e-9: round-off of the different order of the same products.
// The localised hybrid refuses the EnKF-N alone or with the global
// estimate.
func TestEnKFNOnInnovation(t *testing.T) {
	mu, P, H, y, r, pos := testProblem()
	const N, lam = 6, 1.7
	for _, tc := range []struct {
		name   string
		method Method
		local  bool
	}{{"etkf", ETKF, false}, {"letkf global", LETKF, false}, {"letkf local", LETKF, true}} {
		t.Run(tc.name, func(t *testing.T) {
			E := gaussianEnsemble(N, mu, P, 21)
			cfg := Config{Method: tc.method, Inflation: 1, LocRadius: 2, Adaptive: &EnKFN{}}
			ref, err := New(cfg, N, len(mu), pos)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Innovation = &InnovationInflation{PriorSD: 1e-9, Local: tc.local}
			both, err := New(cfg, N, len(mu), pos)
			if err != nil {
				t.Fatal(err)
			}
			if err := both.SetInflationEstimate(slices.Repeat([]float64{lam}, len(both.InflationEstimate()))); err != nil {
				t.Fatal(err)
			}
			got := mat.DenseCopyOf(E)
			inno, err := both.Analyze(got, applyLinear(H, E), y, r, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := mat.DenseCopyOf(E)
			for j := range len(mu) {
				col := mat.Col(nil, j, E)
				m := mean(col)
				for i, v := range col {
					want.Set(i, j, m+math.Sqrt(lam)*(v-m))
				}
			}
			innoRef, err := ref.Analyze(want, applyLinear(H, want), y, r, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiffMat(got, want); d > 1e-9 {
				t.Errorf("analysis differs from the EnKF-N's on the inflated forecast by %g", d)
			}
			if d := math.Abs(inno.Inflation - math.Sqrt(lam)*innoRef.Inflation); d > 1e-9 {
				t.Errorf("inflation %v, want √%v × %v", inno.Inflation, lam, innoRef.Inflation)
			}
			for _, v := range both.InflationEstimate() {
				if math.Abs(v-lam) > 1e-9 {
					t.Errorf("carried estimate %v, want %v", both.InflationEstimate(), lam)
					break
				}
			}
		})
	}
	B := mat.NewDense(2, len(mu), []float64{1, 0, 1, 0, 1, 0, 1, 0, 1, 0})
	E := gaussianEnsemble(N, mu, P, 22)
	for _, in := range []*InnovationInflation{nil, {}} {
		f, err := New(Config{Method: LETKF, Inflation: 1, LocRadius: 2, Adaptive: &EnKFN{}, Innovation: in}, N, len(mu), pos)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.AnalyzeHybridLocal(mat.DenseCopyOf(E), applyLinear(H, E), linearMap{H: H}, y, r, Hybrid{Alpha: 0.5, B: B}, nil); !errors.Is(err, errAdaptiveHybrid) {
			t.Errorf("the localised hybrid with the EnKF-N and innovation %+v: %v, want %v", in, err, errAdaptiveHybrid)
		}
	}
}

// TestHybridLocalEnKFN: the localised hybrid with the local innovation
// inflation and the EnKF-N on top, with a static part that vanishes
// (α = 1 − 1e-12, B = 0), is the LETKF with both: the same members
// (mean and anomalies, the Hessian transform of the EnKF-N included), the
// same carried Λ_b, and the mean of √Λ_b·λ_b reported. Tolerance 1e-8:
// the α in the members' rows, 1e-12 from 1, and round-off.
func TestHybridLocalEnKFN(t *testing.T) {
	mu, P, H, y, r, pos := testProblem()
	const N, lam = 6, 1.7
	cfg := Config{Method: LETKF, Inflation: 1, LocRadius: 2, Adaptive: &EnKFN{}, Innovation: &InnovationInflation{PriorSD: 1e-9, Local: true}}
	E := gaussianEnsemble(N, mu, P, 23)
	var members [2]*mat.Dense
	for i := range 2 {
		f, err := New(cfg, N, len(mu), pos)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.SetInflationEstimate(slices.Repeat([]float64{lam}, len(mu))); err != nil {
			t.Fatal(err)
		}
		got := mat.DenseCopyOf(E)
		var inno Innovation
		if i == 0 {
			inno, err = f.Analyze(got, applyLinear(H, E), y, r, nil)
		} else {
			inno, err = f.AnalyzeHybridLocal(got, applyLinear(H, E), linearMap{H: H}, y, r, Hybrid{Alpha: 1 - 1e-12, B: mat.NewDense(2, len(mu), nil)}, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		members[i] = got
		var want float64
		for b, v := range f.InflationEstimate() {
			if math.Abs(v-lam) > 1e-9 {
				t.Errorf("analysis %d: carried Λ_%d %v, want %v", i, b, v, lam)
			}
			want += math.Sqrt(v) * f.loc.inflN[b] / float64(len(mu))
		}
		if f.loc.inflN[0] == 1 || math.Abs(inno.Inflation-want) > 1e-12 {
			t.Errorf("analysis %d: inflation %v, EnKF-N's %v, want the mean of √Λ_b·λ_b %v", i, inno.Inflation, f.loc.inflN, want)
		}
	}
	if !mat.EqualApprox(members[0], members[1], 1e-8) {
		t.Errorf("hybrid members\n%v\nLETKF members\n%v", mat.Formatted(members[1]), mat.Formatted(members[0]))
	}
}

// TestHybridEnsembleInflation: the localised hybrid's EnKF-N inflation of
// the members' part minimises the dual with the static part counted as
// observation error, dᵀ(R' + u SₑᵀSₑ)⁻¹d/(N−1) + εN/u + cL ln u with
// R' = I + S_cᵀS_c, here evaluated with dense matrices and minimised by a
// golden-section search (tolerance 1e-6 on λ, the search's); without
// static rows it is the EnKF-N's.
func TestHybridEnsembleInflation(t *testing.T) {
	const N, pl = 5, 7
	rng := rand.New(rand.NewPCG(9, 9))
	for _, m := range []int{0, 1, 3} {
		M := N + m
		hl := &hybridLocal{st: make([]float64, M*pl), dl: make([]float64, pl), w: make([]float64, M),
			en: newENKFNWork(&EnKFN{}, N), sp: newSpace(N), rc: make([]float64, pl*pl), xe: make([]float64, pl*N), v: make([]float64, N)}
		for i := range hl.st {
			hl.st[i] = 0.4 * rng.NormFloat64()
		}
		for k := range hl.dl {
			hl.dl[k] = 1.5 * rng.NormFloat64()
		}
		got, _, err := hl.ensembleInflation(N, pl)
		if err != nil {
			t.Fatal(err)
		}
		se := mat.NewDense(N, pl, slices.Clone(hl.st[:N*pl]))
		rp := mat.NewSymDense(pl, nil)
		for k := range pl {
			rp.SetSym(k, k, 1)
		}
		if m > 0 {
			sc := mat.NewDense(m, pl, slices.Clone(hl.st[N*pl:]))
			var sts mat.SymDense
			sts.SymOuterK(1, sc.T())
			rp.AddSym(rp, &sts)
		}
		d := mat.NewVecDense(pl, slices.Clone(hl.dl))
		var rInv mat.Dense
		if err := rInv.Inverse(rp); err != nil {
			t.Fatal(err)
		}
		var c mat.Dense // I + Sₑ R'⁻¹ Sₑᵀ
		c.Product(se, &rInv, se.T())
		var trG float64
		var ci mat.Dense
		for i := range N {
			c.Set(i, i, c.At(i, i)+1)
		}
		if err := ci.Inverse(&c); err != nil {
			t.Fatal(err)
		}
		for i := range N {
			trG += ci.At(i, i)
		}
		eN, cL := hyperprior(N, trG, 1)
		cost := func(lt float64) float64 {
			u := math.Exp(lt)
			var a mat.Dense
			a.Mul(se.T(), se)
			a.Scale(u, &a)
			a.Add(&a, rp)
			var x mat.VecDense
			if err := x.SolveVec(&a, d); err != nil {
				t.Fatal(err)
			}
			return mat.Dot(d, &x)/float64(N-1) + eN/u + cL*lt
		}
		lo, hi := -10.0, 10.0
		g := (math.Sqrt(5) - 1) / 2
		for hi-lo > 1e-9 {
			a, b := hi-g*(hi-lo), lo+g*(hi-lo)
			if cost(a) < cost(b) {
				hi = b
			} else {
				lo = a
			}
		}
		want := math.Sqrt(math.Exp((lo + hi) / 2))
		if math.Abs(got-want) > 1e-6 {
			t.Errorf("%d static rows: λ %v, the dual's minimiser %v", m, got, want)
		}
		if m == 0 {
			sp := newSpace(N)
			S := blas64.General{Rows: N, Cols: pl, Stride: pl, Data: hl.st[:N*pl]}
			sp.factor(S)
			sd := make([]float64, N)
			blas64.Gemv(blas.NoTrans, 1, S, blas64.Vector{N: pl, Inc: 1, Data: hl.dl}, 0, blas64.Vector{N: N, Inc: 1, Data: sd})
			if plain, _ := newENKFNWork(&EnKFN{}, N).inflation(sp, sd); math.Abs(got-plain) > 1e-12 {
				t.Errorf("without static rows: λ %v, the EnKF-N's %v", got, plain)
			}
		}
	}
}

// TestEnKFNMemory: with a memory M the local EnKF-N's first analysis is
// the memoryless one bit for bit and carries its λ_b; the second carries
// λ̄_b + (λ_b − λ̄_b)/M, λ_b the memoryless filter's on the same forecast
// (the dual depends on the forecast alone), for the LETKF alone, under
// the local innovation estimate, and in the localised hybrid; resetting
// the carried estimates gives the first analysis again. Memory 1 is none;
// a filter without a memory carries nothing; the carried values are
// checked when set.
func TestEnKFNMemory(t *testing.T) {
	mu, P, H, y, r, pos := testProblem()
	const N, M = 6, 4
	E1, E2 := gaussianEnsemble(N, mu, P, 31), gaussianEnsemble(N, mu, P, 32)
	for _, tc := range []struct {
		name   string
		innov  *InnovationInflation
		hybrid bool
	}{{"letkf", nil, false}, {"letkf, local innovation", &InnovationInflation{Local: true}, false}, {"hybrid-local", &InnovationInflation{Local: true}, true}} {
		t.Run(tc.name, func(t *testing.T) {
			newFilter := func(memory int) *Filter {
				f, err := New(Config{Method: LETKF, Inflation: 1, LocRadius: 2, Adaptive: &EnKFN{Memory: memory}, Innovation: tc.innov}, N, len(mu), pos)
				if err != nil {
					t.Fatal(err)
				}
				return f
			}
			// analyze runs one analysis of E and returns it with each
			// batch's EnKF-N λ.
			analyze := func(f *Filter, E *mat.Dense) (*mat.Dense, []float64) {
				got := mat.DenseCopyOf(E)
				var err error
				if tc.hybrid {
					_, err = f.AnalyzeHybridLocal(got, applyLinear(H, E), linearMap{H: H}, y, r, Hybrid{Alpha: 0.9, B: mat.NewDense(2, len(mu), []float64{1, 0, 1, 0, 1, 0, 1, 0, 1, 0})}, nil)
				} else {
					_, err = f.Analyze(got, applyLinear(H, E), y, r, nil)
				}
				if err != nil {
					t.Fatal(err)
				}
				lam := f.loc.infl
				if f.loc.inflN != nil {
					lam = f.loc.inflN
				}
				if tc.hybrid {
					lam = f.hloc.lamN
				}
				return got, slices.Clone(lam)
			}
			with, none, one := newFilter(M), newFilter(0), newFilter(1)
			if none.EnKFNEstimate() != nil || one.EnKFNEstimate() != nil {
				t.Errorf("a memory of 0 or 1 carries %v, %v", none.EnKFNEstimate(), one.EnKFNEstimate())
			}
			a1, lam1 := analyze(with, E1)
			b1, ref1 := analyze(none, E1)
			if !slices.Equal(a1.RawMatrix().Data, b1.RawMatrix().Data) || !slices.Equal(with.EnKFNEstimate(), ref1) {
				t.Fatalf("first analysis: carried %v, memoryless λ %v; analyses equal %v", with.EnKFNEstimate(), ref1, slices.Equal(a1.RawMatrix().Data, b1.RawMatrix().Data))
			}
			if slices.Equal(lam1, slices.Repeat([]float64{1}, len(lam1))) {
				t.Fatalf("the EnKF-N did not inflate: %v", lam1)
			}
			c1, _ := analyze(one, E1)
			if !slices.Equal(c1.RawMatrix().Data, b1.RawMatrix().Data) {
				t.Error("memory 1 differs from none")
			}
			_, lam2 := analyze(with, E2)
			_, ref2 := analyze(none, E2)
			for b := range lam2 {
				if want := lam1[b] + (ref2[b]-lam1[b])/M; math.Abs(lam2[b]-want) > 1e-12 || with.EnKFNEstimate()[b] != lam2[b] {
					t.Errorf("batch %d: second analysis used λ̄ %v and carries %v, want %v (memoryless λ %v)", b, lam2[b], with.EnKFNEstimate()[b], want, ref2[b])
				}
			}
			if ref2[0] == lam1[0] {
				t.Error("the memoryless λ did not move between the analyses")
			}
			// Reset starts afresh: the analysis is the first one again.
			with.ResetEnKFNEstimate()
			with.ResetInflationEstimate()
			if a3, _ := analyze(with, E1); !slices.Equal(a3.RawMatrix().Data, b1.RawMatrix().Data) {
				t.Error("after the resets the analysis of the first forecast differs from the first")
			}
		})
	}
	f, err := New(Config{Method: LETKF, Inflation: 1, LocRadius: 2, Adaptive: &EnKFN{Memory: M}}, N, len(mu), pos)
	if err != nil {
		t.Fatal(err)
	}
	n := len(f.EnKFNEstimate())
	for _, bad := range [][]float64{make([]float64, n+1), append(make([]float64, n-1), math.NaN()), append(make([]float64, n-1), -1), append(make([]float64, n-1), math.Inf(1))} {
		if err := f.SetEnKFNEstimate(bad); err == nil {
			t.Errorf("SetEnKFNEstimate(%v): no error", bad)
		}
	}
	if err := f.SetEnKFNEstimate(slices.Repeat([]float64{1.1}, n)); err != nil || f.EnKFNEstimate()[0] != 1.1 {
		t.Errorf("SetEnKFNEstimate: %v, %v", err, f.EnKFNEstimate())
	}
	g, _ := New(Config{Method: LETKF, Inflation: 1, LocRadius: 2, Adaptive: &EnKFN{}}, N, len(mu), pos)
	if err := g.SetEnKFNEstimate([]float64{1}); err == nil {
		t.Error("a filter without a memory took an EnKF-N estimate")
	}
	for _, m := range []Method{ETKF, DEnKF, EnKF} {
		if _, err := New(Config{Method: m, Inflation: 1, Adaptive: &EnKFN{Memory: 2}}, N, len(mu), pos); err == nil {
			t.Errorf("%s with an EnKF-N memory: no error", m)
		}
	}
	if _, err := New(Config{Method: LETKF, Inflation: 1, LocRadius: 2, Adaptive: &EnKFN{Memory: -1}}, N, len(mu), pos); err == nil {
		t.Error("a negative memory: no error")
	}
}

// TestEnKFNMemoryHessian: the carried average is not the dual's optimum,
// where the Hessian of the primal cost can fail to be positive definite
// (here: an average far below the optimum, with large innovations); such
// a batch takes the ETKF's transform instead of stopping the analysis,
// which without a memory is an error. The same holds for the localised
// hybrid's members, which take the LETKF's transform at the hybrid's λ̄.
func TestEnKFNMemoryHessian(t *testing.T) {
	mu, P, H, y, r, pos := testProblem()
	const N = 3
	E := gaussianEnsemble(N, mu, P, 1)
	yy := slices.Clone(y)
	for k := range yy {
		yy[k] += 10 * float64(k%3-1)
	}
	B := mat.NewDense(2, len(mu), []float64{1, 0, 1, 0, 1, 0, 1, 0, 1, 0})
	for _, hybrid := range []bool{false, true} {
		cfg := Config{Method: LETKF, Inflation: 1, LocRadius: 2, Adaptive: &EnKFN{Memory: 20}}
		if hybrid {
			cfg.Innovation = &InnovationInflation{Local: true}
		}
		f, err := New(cfg, N, len(mu), pos)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.SetEnKFNEstimate(slices.Repeat([]float64{0.05}, len(f.EnKFNEstimate()))); err != nil {
			t.Fatal(err)
		}
		got := mat.DenseCopyOf(E)
		if hybrid {
			_, err = f.AnalyzeHybridLocal(got, applyLinear(H, E), linearMap{H: H}, yy, r, Hybrid{Alpha: 0.9, B: B}, nil)
		} else {
			_, err = f.Analyze(got, applyLinear(H, E), yy, r, nil)
		}
		if err != nil {
			t.Fatalf("hybrid %t: %v", hybrid, err)
		}
		for _, v := range got.RawMatrix().Data {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("hybrid %t: analysis %v", hybrid, got.RawMatrix().Data)
			}
		}
	}
}
