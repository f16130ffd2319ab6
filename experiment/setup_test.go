package experiment

import (
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/config"
)

// initial returns the setup's cycle-0 truth and ensemble, failing the
// test on an error.
func initial(t testing.TB, s *Setup) ([]float64, *mat.Dense) {
	t.Helper()
	truth, E, err := s.Initial()
	if err != nil {
		t.Fatal(err)
	}
	return truth, E
}

// TestInitialDiverged: a model whose spin-up diverges (a KS grid too
// coarse for its step, a Lorenz-96 forcing of 10¹⁰) is an error naming
// the model's settings, not a NaN state written as cycle 0.
func TestInitialDiverged(t *testing.T) {
	for _, m := range []config.ModelConfig{{Name: "ks", Nx: 32}, {Name: "lorenz96", Forcing: 1e10}} {
		cfg := config.Config{Name: "x", Cycles: 1, Model: m, Filter: config.FilterConfig{Method: "etkf", Members: 4}}.WithDefaults()
		s, err := Build(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = s.Initial()
		if err == nil || !strings.Contains(err.Error(), "model: the reference state diverged in its spin-up") || !strings.Contains(err.Error(), m.Name+" does not integrate stably with nx") {
			t.Errorf("%+v: got %v", m, err)
		}
	}
}
