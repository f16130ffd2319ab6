// Package gentest writes generator files for tests.
package gentest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/genfile"
)

// SavePCA fits a PCA of dim codes on an archive of samples snapshots of
// cfg's model (archive seed 2) and saves it at path, creating its
// directory. The same arguments write the same file.
func SavePCA(t testing.TB, cfg config.Config, samples, dim int, path string) {
	t.Helper()
	X, _, err := experiment.BuildArchive(context.Background(), cfg, experiment.ArchiveOptions{Samples: samples, Seed: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := latent.FitPCA(X, latent.PCAOptions{Dim: dim})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := genfile.Save(path, g, genfile.Info{Model: cfg.Model.Name}); err != nil {
		t.Fatal(err)
	}
}
