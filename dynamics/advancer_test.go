package dynamics

import (
	"errors"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// batchL96 is Lorenz-96 behind the EnsembleAdvancer interface, counting
// its calls; fail, if set, is returned instead of advancing.
type batchL96 struct {
	*Lorenz96
	calls int
	fail  error
}

func (m *batchL96) NewStepper() Stepper { panic("batchL96: the Forecaster must not make Steppers") }

func (m *batchL96) AdvanceEnsemble(X *mat.Dense, steps int) error {
	m.calls++
	if m.fail != nil {
		return m.fail
	}
	st := m.Lorenz96.NewStepper()
	r, _ := X.Dims()
	for i := range r {
		for range steps {
			st.Step(X.RawRowView(i))
		}
	}
	return nil
}

// An EnsembleAdvancer gets one call per forecast (one per step with
// noise) and gives the bytes of the same model stepped member by member,
// noise included.
func TestForecasterEnsembleAdvancer(t *testing.T) {
	const members, nx, steps = 6, 40, 5
	for _, tc := range []struct {
		name      string
		noise     float64
		lo, hi    int
		wantCalls int
	}{
		{"deterministic", 0, 0, members, 1},
		{"noise", 0.3, 0, members, steps},
		{"members 2..4 with noise", 0.3, 2, 5, steps},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := mustForecaster(t, mustL96(t, nx), members, WithNoise(tc.noise))
			m := &batchL96{Lorenz96: mustL96(t, nx)}
			f := mustForecaster(t, m, members, WithNoise(tc.noise))
			if f.Workers() != members {
				t.Errorf("Workers() = %d, want all %d members in one call", f.Workers(), members)
			}
			want, got := l96Ensemble(members, nx), l96Ensemble(members, nx)
			if err := ref.ForecastMembers(want, tc.lo, tc.hi, steps, 42); err != nil {
				t.Fatal(err)
			}
			if err := f.ForecastMembers(got, tc.lo, tc.hi, steps, 42); err != nil {
				t.Fatal(err)
			}
			if !mat.Equal(got, want) {
				t.Error("ensemble differs from the member-by-member forecast")
			}
			if m.calls != tc.wantCalls {
				t.Errorf("%d AdvanceEnsemble calls, want %d", m.calls, tc.wantCalls)
			}
		})
	}
	t.Run("error", func(t *testing.T) {
		boom := errors.New("boom")
		f := mustForecaster(t, &batchL96{Lorenz96: mustL96(t, nx), fail: boom}, members)
		if err := f.Forecast(l96Ensemble(members, nx), steps, 1); !errors.Is(err, boom) {
			t.Errorf("err = %v, want the model's error", err)
		}
	})
}
