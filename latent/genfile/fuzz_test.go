package genfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latentda/latentda/latent/genfile"
	"github.com/latentda/latentda/store"
	"gonum.org/v1/gonum/mat"
)

// FuzzLoad feeds arbitrary bytes to Load as a generator file. Load must
// not panic; it refuses the bytes with an error that names the file, or
// gives a generator whose dimensions are positive, which decodes, encodes
// and differentiates without panicking, and which Save writes back and
// Load reads again with the same kind and dimensions.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"identity.arrow", "pca.arrow", "autoencoder.arrow"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "g.arrow")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		g, info, err := genfile.Load(path)
		if err != nil {
			if !errors.Is(err, store.ErrInvalid) && !errors.Is(err, store.ErrNewerSchema) && !strings.Contains(err.Error(), path) {
				t.Fatalf("error neither classified nor naming the file: %v", err)
			}
			return
		}
		n, d := g.StateDim(), g.LatentDim()
		if n < 1 || d < 1 {
			t.Fatalf("accepted a %d → %d generator", d, n)
		}
		if n*d <= 1<<20 { // an identity generator has no tensors to bound its size
			x, z := make([]float64, n), make([]float64, d)
			g.Decode(x, z)
			g.Encode(z, x)
			g.Jacobian(mat.NewDense(n, d, nil), z)
		}
		again := filepath.Join(dir, "again.arrow")
		if err := genfile.Save(again, g, info); err != nil {
			t.Fatalf("Save of what Load accepted: %v", err)
		}
		back, _, err := genfile.Load(again)
		if err != nil || back.Name() != g.Name() || back.StateDim() != n || back.LatentDim() != d {
			t.Fatalf("saved and loaded again: %v, %v", back, err)
		}
	})
}
