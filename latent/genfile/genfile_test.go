package genfile_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/dynamics"
	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/genfile"
	"github.com/latentda/latentda/latent/neural"
	"github.com/latentda/latentda/store"
	"github.com/latentda/latentda/store/trainfile"
)

// sameBits reports whether a and b hold the same float64 bit patterns.
func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// checkSameGenerator checks that got decodes, encodes and differentiates
// bit for bit as want, on random codes and on states near the archive X.
func checkSameGenerator(t *testing.T, want, got latent.Generator, X *mat.Dense) {
	t.Helper()
	if got.Name() != want.Name() || got.StateDim() != want.StateDim() || got.LatentDim() != want.LatentDim() {
		t.Fatalf("loaded %s %d → %d, saved %s %d → %d", got.Name(), got.LatentDim(), got.StateDim(),
			want.Name(), want.LatentDim(), want.StateDim())
	}
	n, d := want.StateDim(), want.LatentDim()
	rng := rand.New(rand.NewPCG(1, 2))
	z := make([]float64, d)
	x := make([]float64, n)
	xw, xg := make([]float64, n), make([]float64, n)
	zw, zg := make([]float64, d), make([]float64, d)
	var Jw, Jg mat.Dense
	for trial := range 25 {
		for k := range z {
			z[k] = 2 * rng.NormFloat64()
		}
		want.Decode(xw, z)
		got.Decode(xg, z)
		if !sameBits(xw, xg) {
			t.Fatalf("trial %d: Decode differs after the round trip:\n%v\n%v", trial, xg, xw)
		}
		Jw.Reset()
		Jg.Reset()
		want.Jacobian(&Jw, z)
		got.Jacobian(&Jg, z)
		if !sameBits(Jw.RawMatrix().Data, Jg.RawMatrix().Data) {
			t.Fatalf("trial %d: Jacobian differs after the round trip", trial)
		}
		row := X.RawRowView(rng.IntN(X.RawMatrix().Rows))
		for j := range x {
			x[j] = row[j] + rng.NormFloat64()
		}
		want.Encode(zw, x)
		got.Encode(zg, x)
		if !sameBits(zw, zg) {
			t.Fatalf("trial %d: Encode differs after the round trip:\n%v\n%v", trial, zg, zw)
		}
	}
}

// checkSameInfo checks that a generator file's record round-tripped
// exactly.
func checkSameInfo(t *testing.T, want, got genfile.Info) {
	t.Helper()
	if !sameBits(got.TrainLoss, want.TrainLoss) || !sameBits(got.ValidLoss, want.ValidLoss) {
		t.Errorf("training curve\n%v %v\nread back as\n%v %v", want.TrainLoss, want.ValidLoss, got.TrainLoss, got.ValidLoss)
	}
	if math.Float64bits(got.HeldOutMSE) != math.Float64bits(want.HeldOutMSE) {
		t.Errorf("held-out error %v read back as %v", want.HeldOutMSE, got.HeldOutMSE)
	}
	if got.Model != want.Model || !maps.Equal(got.Params, want.Params) {
		t.Errorf("model %s %v read back as %s %v", want.Model, want.Params, got.Model, got.Params)
	}
}

// roundTrip saves g to a new file, loads it, checks the loaded generator
// and record against the originals, and checks that saving the loaded one
// gives the same bytes. It returns the file's path.
func roundTrip(t *testing.T, g latent.Generator, info genfile.Info, X *mat.Dense) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, g.Name()+".arrow")
	if err := genfile.Save(path, g, info); err != nil {
		t.Fatalf("SaveGenerator: %v", err)
	}
	got, gotInfo, err := genfile.Load(path)
	if err != nil {
		t.Fatalf("LoadGenerator: %v", err)
	}
	checkSameGenerator(t, g, got, X)
	checkSameInfo(t, info, gotInfo)

	again := filepath.Join(dir, "again.arrow")
	if err := genfile.Save(again, got, gotInfo); err != nil {
		t.Fatalf("SaveGenerator of the loaded generator: %v", err)
	}
	a, errA := os.ReadFile(path)
	b, errB := os.ReadFile(again)
	if errA != nil || errB != nil || !bytes.Equal(a, b) {
		t.Errorf("saving the loaded generator gives other bytes (%d vs %d; %v %v)", len(a), len(b), errA, errB)
	}
	if d := fmt.Sprintf("%x", sha256.Sum256(a)); gotInfo.Digest != d {
		t.Errorf("Load's digest %s, the file's SHA-256 %s", gotInfo.Digest, d)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("%d files in the directory after two saves (temporary files left?)", len(entries))
	}
	return path
}

func l96Info(nx string) genfile.Info {
	return genfile.Info{Model: "lorenz96", Params: map[string]string{"nx": nx, "forcing": "8", "dt": "0.05"}}
}

// l96Archive returns samples Lorenz-96 states of nx variables, every 5
// steps of 0.05 after a spin-up of 10 time units from a seeded
// perturbation of the rest state x = F.
func l96Archive(t testing.TB, nx, samples int, seed uint64) *mat.Dense {
	t.Helper()
	m, err := dynamics.NewLorenz96(nx, 8, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	x := make([]float64, nx)
	for i := range x {
		x[i] = 8 + 1e-3*rng.NormFloat64()
	}
	st := m.NewStepper()
	for range 200 {
		st.Step(x)
	}
	X := mat.NewDense(samples, nx, nil)
	for k := range samples {
		for range 5 {
			st.Step(x)
		}
		X.SetRow(k, x)
	}
	return X
}

// split returns the first rows of X for training and the last nv rows
// for validation.
func split(X *mat.Dense, nv int) (train, valid *mat.Dense) {
	m, n := X.Dims()
	return X.Slice(0, m-nv, 0, n).(*mat.Dense), X.Slice(m-nv, m, 0, n).(*mat.Dense)
}

func TestGeneratorFileIdentity(t *testing.T) {
	X := l96Archive(t, 8, 50, 1)
	info := l96Info("8")
	info.HeldOutMSE = 0
	roundTrip(t, latent.NewIdentity(8), info, X)
}

// fitPCAFile fits a PCA generator with latent_dim d on a Lorenz-96
// archive of 40 variables (400 snapshots, the last 80 held out) and
// returns it with its record and the archive.
func fitPCAFile(t *testing.T, d int) (*latent.PCA, genfile.Info, *mat.Dense) {
	t.Helper()
	X := l96Archive(t, 40, 400, 2)
	train, valid := split(X, 80)
	p, err := latent.FitPCA(train, latent.PCAOptions{Dim: d})
	if err != nil {
		t.Fatal(err)
	}
	info := l96Info("40")
	info.HeldOutMSE = latent.ReconstructionError(p, valid)
	return p, info, X
}

func TestGeneratorFilePCA(t *testing.T) {
	for _, d := range []int{1, 10, 40} {
		p, info, X := fitPCAFile(t, d)
		if d < 40 && !(info.HeldOutMSE > 0) {
			t.Errorf("d = %d: held-out error %v", d, info.HeldOutMSE)
		}
		path := roundTrip(t, p, info, X)
		got, _, err := genfile.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		// The stored parameters are scikit-learn's, exactly.
		want, have := p.Params(), got.(*latent.PCA).Params()
		if !sameBits(want.Mean, have.Mean) || !sameBits(want.Components, have.Components) ||
			!sameBits(want.Scales, have.Scales) || want.TotalVariance != have.TotalVariance {
			t.Errorf("d = %d: PCA parameters changed in the round trip", d)
		}
	}
}

// trainAE trains a tiny autoencoder 8 → 16 → 4 (tanh, 3 epochs) on a
// Lorenz-96 archive of 8 variables (300 snapshots, the last 30 held out).
func trainAE(t *testing.T) (*neural.Autoencoder, genfile.Info, *mat.Dense) {
	t.Helper()
	X := l96Archive(t, 8, 300, 3)
	train, valid := split(X, 30)
	var epochs []int
	res, err := neural.TrainAutoencoder(context.Background(), train, valid, neural.AEOptions{
		Hidden: []int{16}, Latent: 4, Activation: neural.Tanh,
		Epochs: 3, BatchSize: 32, LearningRate: 0.003, Seed: 1,
		Progress: func(st neural.EpochStats) error {
			epochs = append(epochs, st.Epoch)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(epochs, []int{1, 2, 3}) || len(res.Curve) != 3 {
		t.Fatalf("progress after epochs %v, curve of %d epochs; want 3", epochs, len(res.Curve))
	}
	info := l96Info("8")
	for _, e := range res.Curve {
		info.TrainLoss = append(info.TrainLoss, e.TrainLoss)
		info.ValidLoss = append(info.ValidLoss, e.ValidLoss)
	}
	info.HeldOutMSE = latent.ReconstructionError(res.Model, valid)
	return res.Model, info, X
}

func TestGeneratorFileAutoencoder(t *testing.T) {
	ae, info, X := trainAE(t)
	if len(info.TrainLoss) != 3 || !(info.HeldOutMSE > 0) {
		t.Fatalf("training record %+v", info)
	}
	path := roundTrip(t, ae, info, X)
	got, _, err := genfile.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	// The layers (weights out × in, as torch) and the normalisation are
	// stored exactly.
	encW, decW := ae.Layers()
	encG, decG := got.(*neural.Autoencoder).Layers()
	for i, pair := range [][2][]neural.Layer{{encW, encG}, {decW, decG}} {
		if len(pair[0]) != len(pair[1]) {
			t.Fatalf("part %d: %d layers read back as %d", i, len(pair[0]), len(pair[1]))
		}
		for k := range pair[0] {
			w, g := pair[0][k], pair[1][k]
			if w.In != g.In || w.Out != g.Out || w.Activation != g.Activation || !sameBits(w.W, g.W) || !sameBits(w.B, g.B) {
				t.Errorf("part %d layer %d changed in the round trip", i, k)
			}
		}
	}
	nw, ng := ae.Normalization(), got.(*neural.Autoencoder).Normalization()
	if !sameBits(nw.Mean, ng.Mean) || !sameBits(nw.Std, ng.Std) {
		t.Error("normalisation changed in the round trip")
	}
}

// rewrite reads the generator file src, lets edit change its tensors and
// metadata, and writes the result to a new file, whose path it returns.
func rewrite(t *testing.T, src, name string, edit func(ts []trainfile.Tensor, m *store.Meta) []trainfile.Tensor) string {
	t.Helper()
	ts, m, err := trainfile.ReadTensors(src, trainfile.KindGenerator)
	if err != nil {
		t.Fatal(err)
	}
	m.Extra = maps.Clone(m.Extra)
	m.SchemaVersion = 0 // the rewritten file is of the current version
	ts = edit(slices.Clone(ts), &m)
	path := filepath.Join(t.TempDir(), name+".arrow")
	if err := trainfile.WriteTensors(path, ts, m); err != nil {
		t.Fatalf("%s: WriteTensors: %v", name, err)
	}
	return path
}

func dropTensor(name string) func([]trainfile.Tensor, *store.Meta) []trainfile.Tensor {
	return func(ts []trainfile.Tensor, _ *store.Meta) []trainfile.Tensor {
		return slices.DeleteFunc(ts, func(t trainfile.Tensor) bool { return t.Name == name })
	}
}

func setExtra(key, value string) func([]trainfile.Tensor, *store.Meta) []trainfile.Tensor {
	return func(ts []trainfile.Tensor, m *store.Meta) []trainfile.Tensor {
		if value == "" {
			delete(m.Extra, key)
		} else {
			m.Extra[key] = value
		}
		return ts
	}
}

func editTensor(name string, f func(*trainfile.Tensor)) func([]trainfile.Tensor, *store.Meta) []trainfile.Tensor {
	return func(ts []trainfile.Tensor, _ *store.Meta) []trainfile.Tensor {
		for i := range ts {
			if ts[i].Name == name {
				t := ts[i]
				t.Shape = slices.Clone(t.Shape)
				t.Data = slices.Clone(t.Data)
				f(&t)
				ts[i] = t
			}
		}
		return ts
	}
}

// TestLoadErrors: damaged or foreign generator files are
// refused with an error naming the file and what is wrong.
func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	p, pinfo, _ := fitPCAFile(t, 10)
	pcaPath := filepath.Join(dir, "pca.arrow")
	if err := genfile.Save(pcaPath, p, pinfo); err != nil {
		t.Fatal(err)
	}
	ae, ainfo, _ := trainAE(t)
	aePath := filepath.Join(dir, "ae.arrow")
	if err := genfile.Save(aePath, ae, ainfo); err != nil {
		t.Fatal(err)
	}
	idPath := filepath.Join(dir, "identity.arrow")
	if err := genfile.Save(idPath, latent.NewIdentity(5), genfile.Info{}); err != nil {
		t.Fatal(err)
	}
	// Sanity: the originals load.
	for _, f := range []string{pcaPath, aePath, idPath} {
		if _, _, err := genfile.Load(f); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}

	type edit = func([]trainfile.Tensor, *store.Meta) []trainfile.Tensor
	cases := []struct {
		name, src string
		edit      edit
		want      string
	}{
		{"pca without components", pcaPath, dropTensor("components"), `no tensor "components"`},
		{"pca without mean", pcaPath, dropTensor("mean"), `no tensor "mean"`},
		{"pca without total variance", pcaPath, dropTensor("total_variance"), `no tensor "total_variance"`},
		{"pca mean too short", pcaPath, editTensor("mean", func(t *trainfile.Tensor) { t.Shape, t.Data = []int{39}, t.Data[:39] }),
			`tensor "mean" has shape [39], want [40]`},
		{"pca components transposed", pcaPath, editTensor("components", func(t *trainfile.Tensor) { t.Shape = []int{40, 10} }),
			`tensor "components" has shape [40 10], want [10 40]`},
		{"pca components flat", pcaPath, editTensor("components", func(t *trainfile.Tensor) { t.Shape = []int{400} }),
			`tensor "components" has shape [400], want [10 40]`},
		{"pca components not orthonormal", pcaPath, editTensor("components", func(t *trainfile.Tensor) {
			for i := range t.Data {
				t.Data[i] *= 2
			}
		}), "not orthonormal"},
		{"pca zero scale", pcaPath, editTensor("scales", func(t *trainfile.Tensor) { t.Data[3] = 0 }), "Scales[3]"},
		{"pca state_dim mismatch", pcaPath, setExtra("state_dim", "41"), `tensor "mean" has shape [40], want [41]`},
		{"pca latent_dim mismatch", pcaPath, setExtra("latent_dim", "9"), `tensor "components" has shape [10 40], want [9 40]`},
		{"state_dim not a number", pcaPath, setExtra("state_dim", "forty"), `latentda.extra.state_dim = "forty", want a positive integer`},
		{"state_dim missing", pcaPath, setExtra("state_dim", ""), `latentda.extra.state_dim = "", want a positive integer`},
		{"latent_dim zero", pcaPath, setExtra("latent_dim", "0"), `latentda.extra.latent_dim = "0", want a positive integer`},
		{"heldout_mse not a number", pcaPath, setExtra("heldout_mse", "small"), `latentda.extra.heldout_mse = "small", want a finite number >= 0`},
		{"heldout_mse negative", pcaPath, setExtra("heldout_mse", "-0.1"), `latentda.extra.heldout_mse = "-0.1", want a finite number >= 0`},
		{"heldout_mse NaN", pcaPath, setExtra("heldout_mse", "NaN"), `latentda.extra.heldout_mse = "NaN", want a finite number >= 0`},
		{"unknown type", pcaPath, setExtra("generator_type", "vae"), `unknown generator type "vae"`},
		{"no type", pcaPath, setExtra("generator_type", ""), `unknown generator type ""`},
		{"autoencoder state_dim mismatch", aePath, setExtra("state_dim", "9"), `tensor "norm.mean" has shape [8], want [9]`},
		{"autoencoder latent_dim mismatch", aePath, setExtra("latent_dim", "3"), "weights give a 4 → 8 generator, metadata says 3 → 8"},
		{"autoencoder without std", aePath, dropTensor("norm.std"), `no tensor "norm.std"`},
		{"autoencoder without a bias", aePath, dropTensor("decoder.0.bias"), `no tensor "decoder.0.bias"`},
		{"autoencoder bias too long", aePath, editTensor("encoder.0.bias", func(t *trainfile.Tensor) { t.Shape, t.Data = []int{17}, append(t.Data, 0) }),
			`tensor "encoder.0.bias" has shape [17], want [16]`},
		{"autoencoder flat weight", aePath, editTensor("encoder.1.weight", func(t *trainfile.Tensor) { t.Shape = []int{64} }),
			`tensor "encoder.1.weight" has shape [64], want [out, in]`},
		{"autoencoder without a layer", aePath, func(ts []trainfile.Tensor, m *store.Meta) []trainfile.Tensor {
			return slices.DeleteFunc(ts, func(t trainfile.Tensor) bool { return strings.HasPrefix(t.Name, "encoder.1.") })
		}, "encoder maps 8 → 16 but decoder maps 4 → 8"},
		{"autoencoder without a decoder", aePath, func(ts []trainfile.Tensor, m *store.Meta) []trainfile.Tensor {
			return slices.DeleteFunc(ts, func(t trainfile.Tensor) bool { return strings.HasPrefix(t.Name, "decoder.") })
		}, "need at least one encoder and one decoder layer"},
		{"autoencoder unknown activation", aePath, setExtra("encoder.0.activation", "swish"), `encoder layer 0: unknown activation "swish"`},
		{"autoencoder zero std", aePath, editTensor("norm.std", func(t *trainfile.Tensor) { t.Data[2] = 0 }), "normalisation of variable 2"},
		{"identity with two dimensions", idPath, setExtra("latent_dim", "4"), "identity generator with state_dim 5 and latent_dim 4"},
		{"identity labelled pca", idPath, setExtra("generator_type", "pca"), `no tensor "mean"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := rewrite(t, c.src, strings.ReplaceAll(c.name, " ", "-"), c.edit)
			g, _, err := genfile.Load(path)
			if err == nil {
				t.Fatalf("loaded a %s %d → %d generator", g.Name(), g.LatentDim(), g.StateDim())
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want one naming %s and containing %q", err, path, c.want)
			}
		})
	}

	// Files that are not generator files.
	other := t.TempDir()
	checkpoint := filepath.Join(other, "checkpoint.arrow")
	ts, m, err := trainfile.ReadTensors(pcaPath, trainfile.KindGenerator)
	if err != nil {
		t.Fatal(err)
	}
	m.Kind = trainfile.KindCheckpoint
	if err := trainfile.WriteTensors(checkpoint, ts, m); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(other, "archive.arrow")
	X := mat.NewDense(3, 2, []float64{1, 2, 3, 4, 5, 6})
	if err := trainfile.WriteArchive(archive, trainfile.Archive{X: X, Times: []float64{1, 2, 3}}, store.Meta{}); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(other, "truncated.arrow")
	data, err := os.ReadFile(pcaPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truncated, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	notArrow := filepath.Join(other, "model.yaml")
	if err := os.WriteFile(notArrow, []byte("name: l96-pca\nmodel: {name: lorenz96, nx: 40}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(other, "missing.arrow")
	for _, path := range []string{checkpoint, archive, truncated, notArrow, missing} {
		_, _, err := genfile.Load(path)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("genfile.Load(%s): %v, want an error naming the file", path, err)
		}
		if path != missing && !errors.Is(err, store.ErrInvalid) {
			t.Errorf("genfile.Load(%s): %v does not wrap store.ErrInvalid", path, err)
		}
	}
	if _, _, err := genfile.Load(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v does not wrap os.ErrNotExist", err)
	}
	// Saving is refused for generators without a file format.
	if err := genfile.Save(filepath.Join(other, "x.arrow"), fakeGenerator{latent.NewIdentity(2)}, genfile.Info{}); err == nil {
		t.Error("saved a generator of an unknown kind")
	}
	// and for a generator that takes a kind's name but is not its type.
	if err := genfile.Save(filepath.Join(other, "y.arrow"), namedPCA{latent.NewIdentity(2)}, genfile.Info{}); err == nil || !strings.Contains(err.Error(), "want *latent.PCA") {
		t.Errorf("saving an identity named pca: %v", err)
	}
}

// fakeGenerator is a generator SaveGenerator does not know.
type fakeGenerator struct{ *latent.Identity }

func (fakeGenerator) Name() string { return "fake" }

// namedPCA is an identity generator that calls itself pca.
type namedPCA struct{ *latent.Identity }

func (namedPCA) Name() string { return "pca" }

// TestFilesOfEarlierVersions: the files in testdata were written by the
// format's first home (experiment.SaveGenerator, before the move to this
// package); they load, and saving what was loaded gives the same bytes.
func TestFilesOfEarlierVersions(t *testing.T) {
	for _, c := range []struct {
		file       string
		name       string
		n, d       int
		config     string
		epochs     int
		heldOutPos bool
	}{
		{"identity.arrow", "identity", 6, 6, "", 0, false},
		{"pca.arrow", "pca", 6, 2, "abc123", 0, true},
		{"autoencoder.arrow", "autoencoder", 6, 3, "", 2, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join("testdata", c.file)
			g, info, err := genfile.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if g.Name() != c.name || g.StateDim() != c.n || g.LatentDim() != c.d || info.Model != "lorenz96" ||
				info.Config != c.config || len(info.TrainLoss) != c.epochs || len(info.ValidLoss) != c.epochs ||
				(info.HeldOutMSE > 0) != c.heldOutPos {
				t.Errorf("loaded a %s %d → %d generator with record %+v", g.Name(), g.LatentDim(), g.StateDim(), info)
			}
			again := filepath.Join(t.TempDir(), c.file)
			if err := genfile.Save(again, g, info); err != nil {
				t.Fatal(err)
			}
			a, errA := os.ReadFile(path)
			b, errB := os.ReadFile(again)
			if errA != nil || errB != nil {
				t.Fatal(errA, errB)
			}
			// The files of earlier versions have no checksums.
			if b = withoutChecksums(t, b); !sameButVersion(a, b) {
				t.Errorf("saving the loaded generator gives other bytes than the schema version's (%d vs %d)", len(a), len(b))
			}
		})
	}
}

// withoutChecksums checks that every record batch of the Arrow file b
// carries a checksum, and returns the file written again without them,
// as writers did before checksums.
func withoutChecksums(t *testing.T, b []byte) []byte {
	t.Helper()
	r, err := ipc.NewFileReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out bytes.Buffer
	w, err := ipc.NewFileWriter(&out, ipc.WithSchema(r.Schema()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range r.NumRecords() {
		rec, err := r.RecordBatchAt(i)
		if err != nil {
			t.Fatal(err)
		}
		if rm, ok := rec.(arrow.RecordBatchWithMetadata); !ok || rm.Metadata().FindKey("latentda.checksum") < 0 {
			t.Errorf("record batch %d has no checksum", i)
		}
		plain := array.NewRecordBatch(r.Schema(), rec.Columns(), rec.NumRows())
		err = w.Write(plain)
		plain.Release()
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// sameButVersion reports whether b is a but for the schema version, which
// a writer always stamps with the current one: the bytes may differ only
// where a holds an older version's digit and b the current one's.
func sameButVersion(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	now := byte('0' + store.SchemaVersion)
	for i := range a {
		if a[i] != b[i] && (b[i] != now || a[i] < '1' || a[i] >= now) {
			return false
		}
	}
	return true
}

// TestReadCurve reads the training curve that Load reads, also from a file
// whose generator is damaged.
func TestReadCurve(t *testing.T) {
	train, valid, err := genfile.ReadCurve(filepath.Join("testdata", "autoencoder.arrow"))
	if err != nil {
		t.Fatal(err)
	}
	_, info, err := genfile.Load(filepath.Join("testdata", "autoencoder.arrow"))
	if err != nil {
		t.Fatal(err)
	}
	if len(train) != 2 || !sameBits(train, info.TrainLoss) || !sameBits(valid, info.ValidLoss) {
		t.Errorf("ReadCurve gives %v %v, Load %v %v", train, valid, info.TrainLoss, info.ValidLoss)
	}
	damaged := rewrite(t, filepath.Join("testdata", "autoencoder.arrow"), "damaged", dropTensor("norm.std"))
	if train, _, err := genfile.ReadCurve(damaged); err != nil || !sameBits(train, info.TrainLoss) {
		t.Errorf("damaged generator: curve %v, %v", train, err)
	}
	if _, _, err := genfile.ReadCurve(filepath.Join(t.TempDir(), "missing.arrow")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v does not wrap os.ErrNotExist", err)
	}
}

// TestGeneratorFileStats: the statistics of the latent analyses round-trip
// bit for bit, a file without them loads with none, and sizes that do not
// fit the generator are refused on saving and on loading.
func TestGeneratorFileStats(t *testing.T) {
	ae, info, X := trainAE(t)
	info.Stats = latent.EstimateStats(ae, X, X)
	path := roundTrip(t, ae, info, X)
	_, got, err := genfile.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !sameBits(got.Stats.CodeCov, info.Stats.CodeCov) || !sameBits(got.Stats.RepVar, info.Stats.RepVar) || len(got.Stats.CodeCov) != 16 {
		t.Errorf("statistics changed in the round trip: %+v, want %+v", got.Stats, info.Stats)
	}
	if _, plain, err := genfile.Load(rewrite(t, path, "nostats", func(ts []trainfile.Tensor, m *store.Meta) []trainfile.Tensor {
		return dropTensor("stats.rep_var")(dropTensor("stats.code_cov")(ts, m), m)
	})); err != nil || plain.Stats.CodeCov != nil || plain.Stats.RepVar != nil {
		t.Errorf("file without statistics: %+v, %v", plain.Stats, err)
	}
	bad := rewrite(t, path, "badstats", editTensor("stats.rep_var", func(ts *trainfile.Tensor) { ts.Shape, ts.Data = []int{3}, ts.Data[:3] }))
	if _, _, err := genfile.Load(bad); err == nil || !strings.Contains(err.Error(), "stats.rep_var") {
		t.Errorf("representation variances of the wrong length: got %v", err)
	}
	for _, s := range []latent.Stats{{CodeCov: []float64{1}}, {RepVar: []float64{1, 2}}} {
		in := info
		in.Stats = s
		if err := genfile.Save(filepath.Join(t.TempDir(), "x.arrow"), ae, in); err == nil {
			t.Errorf("statistics %+v of the wrong size saved", s)
		}
	}
}
