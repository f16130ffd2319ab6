// Package genfile reads and writes generator files: the weights of a
// [latent.Generator] and its training record in a store tensor file (kind
// "generator"), so that a generator trained once serves every experiment
// that names its file.
//
// A file holds the tensors of its generator kind (see the kind files
// identity.go, pca.go, autoencoder.go, quadratic.go, conv.go), then the
// training curve curve.train_loss [epochs] and curve.valid_loss [epochs], and
// optionally the statistics stats.code_cov [d, d] and stats.rep_var [n]
// (Info.Stats). Weights are stored out × in, row-major, as
// torch.nn.Linear.weight. The metadata
// latentda.extra.generator_type names the kind (the generator's Name),
// .state_dim and .latent_dim its dimensions, .heldout_mse its held-out
// reconstruction error and .train_config the training config it came from;
// a kind may add keys of its own.
//
// # Adding a kind
//
// A kind is one value of type kind, in a file of its own, listed in
// [kinds]: its name (the generator's Name and the file's generator_type),
// encode (the generator's tensors and metadata) and decode (the generator
// from them). Save and Load need no other change.
package genfile

import (
	"fmt"
	"math"
	"strconv"

	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/store"
	"github.com/latentda/latentda/store/trainfile"
)

// Info is what a generator file records beside the weights.
type Info struct {
	// TrainLoss and ValidLoss are the training curve (autoencoder: mean
	// squared error per variable in normalised units, per epoch).
	TrainLoss, ValidLoss []float64
	// HeldOutMSE is the reconstruction error ‖G(E(x)) − x‖²/n on the
	// held-out part of the archive, in model units.
	HeldOutMSE float64
	// Model is the model the archive came from; Params its parameters.
	Model  string
	Params map[string]string
	// Config identifies the training config but for its heartbeat timeout (stored as
	// latentda.extra.train_config), so a changed config is not served a
	// stale generator.
	Config string
	// Stats are the generator's statistics for the latent analyses
	// (latent.EstimateStats), stored as stats.code_cov [d, d] and
	// stats.rep_var [n] when set; files written before them have neither.
	Stats latent.Stats
	// Digest is the SHA-256, in hex, of the file's bytes that Load parsed
	// (a run pins its generators by it); Save ignores it.
	Digest string
}

// Metadata keys (latentda.extra.<key>) every generator file has.
const (
	extraType      = "generator_type"
	extraStateDim  = "state_dim"
	extraLatentDim = "latent_dim"
	extraHeldOut   = "heldout_mse"
	extraConfig    = "train_config"
)

// kind is the file format of one generator type.
type kind struct {
	// name is the generator's Name and the file's generator_type.
	name string
	// encode writes g's tensors and metadata to w. g has Name() == name;
	// encode reports an error if it is not the type the kind stores.
	encode func(w *writer, g latent.Generator) error
	// decode builds the generator of a file whose metadata gives the
	// state dimension n and latent dimension d. Load checks the result's
	// dimensions against n and d.
	decode func(r *reader, n, d int) (latent.Generator, error)
}

// kinds are the generator kinds a file can hold; add a new kind here.
var kinds = []kind{identityKind, pcaKind, autoencoderKind, quadraticKind, convKind}

// kindOf returns the kind called name.
func kindOf(name string) (kind, bool) {
	for _, k := range kinds {
		if k.name == name {
			return k, true
		}
	}
	return kind{}, false
}

// errNotKind is encode's error for a generator that carries a kind's name
// but not its type.
func errNotKind(g latent.Generator, want string) error {
	return fmt.Errorf("a generator named %q of type %T, want %s", g.Name(), g, want)
}

// writer collects the tensors and metadata of a file being written.
type writer struct {
	ts    []trainfile.Tensor
	extra map[string]string
}

// tensor appends the tensor name of the given shape.
func (w *writer) tensor(name string, data []float64, shape ...int) {
	w.ts = append(w.ts, trainfile.Tensor{Name: name, Shape: shape, Data: data})
}

// vec appends the vector v as the tensor name of shape [len(v)].
func (w *writer) vec(name string, v []float64) { w.tensor(name, v, len(v)) }

// reader looks up the tensors and metadata of a file being read; its
// errors name the file.
type reader struct {
	path   string
	byName map[string]trainfile.Tensor
	extra  map[string]string
}

// bad returns an error naming the file.
func (r *reader) bad(format string, args ...any) error {
	return fmt.Errorf("genfile: generator %s: %s", r.path, fmt.Sprintf(format, args...))
}

// lookup returns the tensor name, if the file has it.
func (r *reader) lookup(name string) (trainfile.Tensor, bool) {
	t, ok := r.byName[name]
	return t, ok
}

// get returns the data of the tensor name, which must exist and, if shape
// is given, have that shape.
func (r *reader) get(name string, shape ...int) ([]float64, error) {
	t, ok := r.byName[name]
	if !ok {
		return nil, r.bad("no tensor %q", name)
	}
	if len(shape) > 0 && fmt.Sprint(t.Shape) != fmt.Sprint(shape) {
		return nil, r.bad("tensor %q has shape %v, want %v", name, t.Shape, shape)
	}
	return t.Data, nil
}

// positive returns the metadata value of key as a positive integer.
func (r *reader) positive(key string) (int, error) {
	v, err := strconv.Atoi(r.extra[key])
	if err != nil || v < 1 {
		return 0, r.bad("metadata latentda.extra.%s = %q, want a positive integer", key, r.extra[key])
	}
	return v, nil
}

// Curve and statistics tensor names.
const (
	curveTrain = "curve.train_loss"
	curveValid = "curve.valid_loss"
	statsCode  = "stats.code_cov"
	statsRep   = "stats.rep_var"
)

// ReadCurve reads only the training curve of a generator file (train and
// valid losses per epoch), without checking or building the generator.
func ReadCurve(path string) (train, valid []float64, err error) {
	ts, _, err := trainfile.ReadTensors(path, trainfile.KindGenerator)
	if err != nil {
		return nil, nil, err
	}
	for _, t := range ts {
		switch t.Name {
		case curveTrain:
			train = t.Data
		case curveValid:
			valid = t.Data
		}
	}
	return train, valid, nil
}

// Save writes g and its training record to path, atomically. g's Name
// selects its kind; Save refuses a generator of a kind the format does not
// know.
func Save(path string, g latent.Generator, info Info) error {
	k, ok := kindOf(g.Name())
	if !ok {
		return fmt.Errorf("genfile: cannot save a %s generator", g.Name())
	}
	w := &writer{extra: map[string]string{
		extraType:      g.Name(),
		extraStateDim:  strconv.Itoa(g.StateDim()),
		extraLatentDim: strconv.Itoa(g.LatentDim()),
		extraHeldOut:   strconv.FormatFloat(info.HeldOutMSE, 'g', -1, 64),
	}}
	if info.Config != "" {
		w.extra[extraConfig] = info.Config
	}
	if err := k.encode(w, g); err != nil {
		return fmt.Errorf("genfile: cannot save a %s generator: %w", g.Name(), err)
	}
	w.vec(curveTrain, info.TrainLoss)
	w.vec(curveValid, info.ValidLoss)
	if c := info.Stats.CodeCov; c != nil {
		if d := g.LatentDim(); len(c) != d*d {
			return fmt.Errorf("genfile: code covariance has %d entries for latent dimension %d", len(c), d)
		}
		w.tensor(statsCode, c, g.LatentDim(), g.LatentDim())
	}
	if v := info.Stats.RepVar; v != nil {
		if len(v) != g.StateDim() {
			return fmt.Errorf("genfile: %d representation variances for state dimension %d", len(v), g.StateDim())
		}
		w.vec(statsRep, v)
	}
	meta := store.Meta{Kind: trainfile.KindGenerator, Model: info.Model, Params: info.Params, Extra: w.extra}
	return trainfile.WriteTensors(path, w.ts, meta)
}

// Load reads a generator file. Errors name the file; a file that is not a
// valid generator file gives an error wrapping store.ErrInvalid or
// describing what is wrong.
func Load(path string) (latent.Generator, Info, error) {
	var digest string
	ts, meta, err := trainfile.ReadTensors(path, trainfile.KindGenerator, store.WithDigest(&digest))
	if err != nil {
		return nil, Info{}, err
	}
	r := &reader{path: path, byName: make(map[string]trainfile.Tensor, len(ts)), extra: meta.Extra}
	for _, t := range ts {
		r.byName[t.Name] = t
	}
	n, err := r.positive(extraStateDim)
	if err != nil {
		return nil, Info{}, err
	}
	d, err := r.positive(extraLatentDim)
	if err != nil {
		return nil, Info{}, err
	}
	info := Info{Model: meta.Model, Params: meta.Params, Config: meta.Extra[extraConfig], Digest: digest}
	if v, ok := meta.Extra[extraHeldOut]; ok {
		if info.HeldOutMSE, err = strconv.ParseFloat(v, 64); err != nil || !(info.HeldOutMSE >= 0) || math.IsInf(info.HeldOutMSE, 0) {
			return nil, Info{}, r.bad("metadata latentda.extra.%s = %q, want a finite number >= 0", extraHeldOut, v)
		}
	}
	info.TrainLoss = r.byName[curveTrain].Data
	info.ValidLoss = r.byName[curveValid].Data
	if _, ok := r.lookup(statsCode); ok {
		if info.Stats.CodeCov, err = r.get(statsCode, d, d); err != nil {
			return nil, info, err
		}
	}
	if _, ok := r.lookup(statsRep); ok {
		if info.Stats.RepVar, err = r.get(statsRep, n); err != nil {
			return nil, info, err
		}
	}

	typ := meta.Extra[extraType]
	k, ok := kindOf(typ)
	if !ok {
		return nil, info, r.bad("unknown generator type %q (metadata latentda.extra.%s)", typ, extraType)
	}
	g, err := k.decode(r, n, d)
	if err != nil {
		return nil, info, err
	}
	if g.StateDim() != n || g.LatentDim() != d {
		return nil, info, r.bad("weights give a %d → %d generator, metadata says %d → %d", g.LatentDim(), g.StateDim(), d, n)
	}
	return g, info, nil
}
