// Package config is what the user writes for a twin assimilation
// experiment: the YAML file ([Config]) with its sections (model,
// observations, filter, init, latent, ood, anomaly, orchestration), their
// documented defaults ([Config.WithDefaults]) and their validation
// ([Config.Validate]), the strict key checking that names a wrong key and
// what it accepts, the errors for keys that moved, and overrides of single
// keys ([Config.Override]). A key written with a zero value that a default
// would replace is an error ([Replaced]), and so is a key written where the
// rest of the config leaves it unused ([Parse]; a run directory's
// config.yaml holds them all, [ParseStored]); [Config.Estimate] and [Limits]
// say what a run needs and refuse too much before it starts; and
// [Config.Confine] keeps the files a config names inside the state
// directory. Package experiment builds the numerics a Config names.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/latentda/latentda/dynamics"
	"github.com/latentda/latentda/enkf"
)

// Config is one experiment, as written in its YAML file. Keys left out
// (zero values) take the defaults documented on each field (see
// [Config.WithDefaults]); [Parse] rejects a key written with a zero value
// that a default would replace, and a key that the rest of the config
// leaves unused (the fields say when they are used).
type Config struct {
	// Name labels the run (workflow IDs, file metadata). Required.
	Name string `yaml:"name" json:"name"`
	// Seed drives every random draw of the run. Default 1.
	Seed uint64 `yaml:"seed" json:"seed"`
	// Cycles is the number of forecast–analysis cycles. Required, >= 1.
	Cycles int `yaml:"cycles" json:"cycles"`
	// BurnIn is the model time excluded from the time-mean diagnostics.
	BurnIn float64 `yaml:"burn_in" json:"burn_in"`

	Model        ModelConfig  `yaml:"model" json:"model"`
	Observations ObsConfig    `yaml:"observations" json:"observations"`
	Filter       FilterConfig `yaml:"filter" json:"filter"`
	Init         InitConfig   `yaml:"init" json:"init"`
	// Latent, if set, runs the filter on the codes of a generator.
	Latent *LatentConfig `yaml:"latent,omitempty" json:"latent,omitempty"`
	// OOD, if set, tests the observations before each analysis.
	OOD *OODConfig `yaml:"ood,omitempty" json:"ood,omitempty"`
	// Anomaly, if set, perturbs the nature run or the observations.
	Anomaly *AnomalyConfig `yaml:"anomaly,omitempty" json:"anomaly,omitempty"`
	// Orchestration, if set, says how the cycles are spread over
	// activities and workers (not science: the files are the same).
	Orchestration *Orchestration `yaml:"orchestration,omitempty" json:"orchestration,omitempty"`
	// Store, if set, says which ensembles the run keeps (default: all).
	Store *StoreConfig `yaml:"store,omitempty" json:"store,omitempty"`
}

// ModelConfig selects the dynamical model.
type ModelConfig struct {
	// Name is lorenz63, lorenz96, ks or external (a program speaking the
	// protocol of docs/external-models.md).
	Name string `yaml:"name" json:"name"`
	// Dt is the model time step (defaults: 0.01, 0.05, 0.5; required for
	// external).
	Dt float64 `yaml:"dt" json:"dt"`
	// Nx is the state dimension (lorenz96 default 40, ks default 128;
	// external: state_size).
	Nx int `yaml:"nx" json:"nx"`
	// Forcing is the Lorenz-96 F (default 8).
	Forcing float64 `yaml:"forcing" json:"forcing"`
	// Length is the KS domain length (default 32π).
	Length float64 `yaml:"length" json:"length"`
	// Sigma, Rho, Beta are the Lorenz-63 parameters (default 10, 28, 8/3).
	Sigma float64 `yaml:"sigma" json:"sigma"`
	Rho   float64 `yaml:"rho" json:"rho"`
	Beta  float64 `yaml:"beta" json:"beta"`
	// Noise is the standard deviation of additive model noise per step in
	// the ensemble forecast (default 0: perfect model).
	Noise float64 `yaml:"noise" json:"noise"`

	// The external model (name external only):
	// Command is the program and its arguments (required; a relative
	// program path is relative to Workdir). A program given as a path
	// must lie in the state directory or an allowed one (Confine); a
	// bare name is looked up on PATH.
	Command []string `yaml:"command,omitempty" json:"command,omitempty"`
	// Env holds KEY=VALUE entries added to the worker's environment.
	Env []string `yaml:"env,omitempty" json:"env,omitempty"`
	// Workdir is the program's working directory (default: the worker's).
	Workdir string `yaml:"workdir,omitempty" json:"workdir,omitempty"`
	// StateSize is the number of variables (required).
	StateSize int `yaml:"state_size,omitempty" json:"state_size,omitempty"`
	// Processes is the number of model processes per worker that advance
	// slices of the members in parallel (default 1).
	Processes int `yaml:"processes,omitempty" json:"processes,omitempty"`
	// Timeout bounds each request to the program (default 10m).
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Transport is how the states travel: auto (the default: shared
	// memory if the program accepts it, else the pipes), shm or pipe.
	Transport string `yaml:"transport,omitempty" json:"transport,omitempty"`
}

// ObsConfig describes the observing system.
type ObsConfig struct {
	// Operator is identity, every-k, subset, square or abs (default identity).
	Operator string `yaml:"operator" json:"operator"`
	// Every and Offset select x[offset], x[offset+every], ... for every-k.
	Every  int `yaml:"every" json:"every"`
	Offset int `yaml:"offset" json:"offset"`
	// Indices are the observed variables for subset, square and abs.
	Indices []int `yaml:"indices" json:"indices"`
	// Variance is the observation-error variance, the diagonal of R
	// (default 1); with VarianceEstimate, the starting guess.
	Variance float64 `yaml:"variance" json:"variance"`
	// VarianceEstimate, if set, learns the observation-error variances
	// online from the innovations (Desroziers et al. 2005).
	VarianceEstimate *VarianceEstimateConfig `yaml:"variance_estimate,omitempty" json:"variance_estimate,omitempty"`
	// StepsBetween is the number of model steps per cycle (default 1).
	StepsBetween int `yaml:"steps_between" json:"steps_between"`
}

// FilterConfig selects the analysis.
type FilterConfig struct {
	// Method is etkf, enkf, denkf or letkf.
	Method string `yaml:"method" json:"method"`
	// Members is the ensemble size N (>= 2).
	Members int `yaml:"members" json:"members"`
	// Inflation multiplies the analysis anomalies (default 1), or is
	// adaptive: an inflation of the forecast anomalies estimated every
	// analysis, by the finite-size EnKF-N (for the LETKF, in every local
	// analysis) or from the innovations with memory (filter.adaptive.scheme).
	Inflation Inflation `yaml:"inflation" json:"inflation"`
	// Adaptive tunes the adaptive inflation (only with inflation: adaptive).
	Adaptive *AdaptiveConfig `yaml:"adaptive,omitempty" json:"adaptive,omitempty"`
	// Rotate applies random mean-preserving rotations.
	Rotate bool `yaml:"rotate" json:"rotate"`
	// LocRadius is the LETKF localisation radius in grid points, or in the
	// units of an external model's coordinates if it sends them
	// (docs/external-models.md).
	LocRadius float64 `yaml:"loc_radius" json:"loc_radius"`
	// BatchSize groups grid points per LETKF local analysis (default 1).
	BatchSize int `yaml:"batch_size" json:"batch_size"`
	// WeightStride (LETKF only; default 1) runs the local analyses of every
	// weight_stride-th batch only and interpolates their transforms linearly
	// to the batches in between (weight interpolation, Yang et al. 2009):
	// about weight_stride times less work for a small loss of accuracy
	// (docs/benchmarks.md, "Scale"). It counts batches, so the analysed
	// grid points are batch_size·weight_stride apart, and it must be below
	// the number of batches. Omitted, 0 or 1: every batch its own analysis,
	// bit for bit as without the key.
	WeightStride int `yaml:"weight_stride,omitempty" json:"weight_stride,omitempty"`
}

// InitConfig sets up the twin experiment's start: the truth and the members
// are drawn from N(x₀, Variance·I) around the model's reference state x₀.
type InitConfig struct {
	// Variance of the initial draws (defaults: lorenz63 2, others 0.001,
	// as in the DAPPER reference set-ups).
	Variance float64 `yaml:"variance" json:"variance"`
}

// Load reads and validates a config file a user wrote (at most
// [MaxConfigBytes]; see [Parse]). A file that ends with a run directory's
// checksum line, verified, is a config.yaml as the engine wrote it, and is
// read as one ([ParseStored]).
func Load(path string) (Config, error) { return load(path, Parse) }

// LoadStored reads and validates a run directory's config.yaml, with or
// without its checksum line (see [ParseStored]).
func LoadStored(path string) (Config, error) { return load(path, ParseStored) }

// load reads the config file at path with parse, or with ParseStored if
// the file carries a checksum line.
func load(path string, parse func([]byte) (Config, error)) (Config, error) {
	data, err := ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	body, err := VerifyChecksum(data)
	if err != nil {
		return Config{}, fmt.Errorf("config: %s: %w", path, err)
	}
	if len(body) < len(data) {
		parse = ParseStored
	}
	cfg, err := parse(body)
	if err != nil {
		return Config{}, fmt.Errorf("config: %s: %w", path, err)
	}
	return cfg, nil
}

// ReadFile reads a config file of at most [MaxConfigBytes], without
// reading more of a larger one.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxConfigBytes {
		return nil, fmt.Errorf("%s: larger than %s, the limit of a config file", path, ByteSize(MaxConfigBytes))
	}
	return data, nil
}

// Parse decodes a config a user wrote: YAML strictly (unknown fields are
// errors), with the defaults applied, validated. A key written with a
// zero value that a default would replace is an error (see [Replaced]),
// and so is a key that the rest of the config leaves unused, such as
// ood.outlier_k without the outlier test: it names the key, its line and
// what would make it used.
func Parse(data []byte) (Config, error) {
	cfg, err := ParseStored(data)
	if err != nil {
		return Config{}, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Config{}, invalidYAML(err)
	}
	if err := unused("", 0, &doc, cfg); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// ParseStored is [Parse] for a config the engine wrote, a run directory's
// config.yaml ([Config.Marshal] of a config with its defaults): it holds
// every key with its default, including those the rest of the config
// leaves unused, and these are accepted.
func ParseStored(data []byte) (Config, error) {
	var cfg Config
	if err := DecodeStrict(data, &cfg); err != nil {
		return Config{}, err
	}
	full := cfg.WithDefaults()
	if err := Replaced(data, cfg, full); err != nil {
		return Config{}, err
	}
	if err := Missing(data, full.required()...); err != nil {
		return Config{}, err
	}
	if err := full.Validate(); err != nil {
		return Config{}, err
	}
	return full, nil
}

// DecodeStrict decodes one YAML document into v (a pointer to a config
// struct, such as a [Config] or a training config), rejecting unknown keys,
// values of the wrong type (with errors that name the key and what it
// accepts), lists longer than [MaxListLength], a second document and data
// larger than [MaxConfigBytes].
func DecodeStrict(data []byte, v any) error {
	if len(data) > MaxConfigBytes {
		return fmt.Errorf("%s of YAML, larger than %s, the limit of a config", ByteSize(len(data)), ByteSize(MaxConfigBytes))
	}
	doc, err := oneDocument(data)
	if err != nil {
		return err
	}
	if len(doc.Content) == 0 {
		return errors.New("empty config")
	}
	if _, isConfig := v.(*Config); isConfig && pruneLegacy(doc.Content[0]) {
		if data, err = yaml.Marshal(doc); err != nil {
			return invalidYAML(err)
		}
	}
	if err := checkNode(doc.Content[0], reflect.TypeOf(v).Elem(), ""); err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty config")
		}
		return invalidYAML(err)
	}
	return nil
}

// invalidYAML wraps an error of the YAML decoder, on one line: a
// *yaml.TypeError (such as a key written twice) lists its errors on lines
// of their own, under "yaml: unmarshal errors:".
func invalidYAML(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		err = typeErrors{te}
	}
	return fmt.Errorf("invalid YAML: %w", err)
}

// typeErrors is a *yaml.TypeError whose errors read as one line, joined
// by "; ".
type typeErrors struct{ *yaml.TypeError }

func (e typeErrors) Error() string { return strings.Join(e.Errors, "; ") }
func (e typeErrors) Unwrap() error { return e.TypeError }

// WithDefaults returns c with the documented defaults filled in.
func (c Config) WithDefaults() Config {
	if c.Seed == 0 {
		c.Seed = 1
	}
	m := &c.Model
	m.Name = strings.ToLower(strings.TrimSpace(m.Name))
	switch m.Name {
	case "lorenz63":
		def(&m.Dt, 0.01)
		def(&m.Sigma, 10)
		def(&m.Rho, 28)
		def(&m.Beta, 8.0/3)
		if m.Nx == 0 {
			m.Nx = 3
		}
		def(&c.Init.Variance, 2)
	case "lorenz96":
		def(&m.Dt, 0.05)
		def(&m.Forcing, 8)
		if m.Nx == 0 {
			m.Nx = 40
		}
	case "ks":
		def(&m.Dt, 0.5)
		def(&m.Length, 32*math.Pi)
		if m.Nx == 0 {
			m.Nx = 128
		}
	case "external":
		m.externalDefaults()
	}
	def(&c.Init.Variance, 0.001)
	o := &c.Observations
	if o.Operator == "" {
		o.Operator = "identity"
	}
	def(&o.Variance, 1)
	if o.StepsBetween == 0 {
		o.StepsBetween = 1
	}
	f := &c.Filter
	f.Method = strings.ToLower(strings.TrimSpace(f.Method))
	if f.Inflation == 0 {
		f.Inflation = 1
	}
	if o.VarianceEstimate != nil {
		v := *o.VarianceEstimate
		v.withDefaults()
		o.VarianceEstimate = &v
	}
	if c.Latent != nil {
		l := *c.Latent
		l.withDefaults()
		c.Latent = &l
	}
	if c.OOD != nil {
		o := *c.OOD
		o.withDefaults()
		c.OOD = &o
	}
	if c.Anomaly != nil {
		a := *c.Anomaly
		a.withDefaults(m.Nx)
		c.Anomaly = &a
	}
	if c.Orchestration != nil {
		o := *c.Orchestration
		o.withDefaults()
		c.Orchestration = &o
	}
	if c.Store != nil {
		s := *c.Store
		s.withDefaults()
		c.Store = &s
	}
	return c
}

func def(v *float64, d float64) {
	if *v == 0 {
		*v = d
	}
}

// Validate reports the first invalid field, by its YAML path.
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(c.Name) == "" {
		return bad("name", "required (a short label such as l96-etkf)")
	}
	if c.Cycles < 1 {
		return bad("cycles", "must be >= 1, got %d", c.Cycles)
	}
	if !finite(c.BurnIn) || c.BurnIn < 0 {
		return bad("burn_in", "must be a finite time >= 0, got %v", c.BurnIn)
	}
	m := c.Model
	switch m.Name {
	case "lorenz63", "lorenz96", "ks":
	case "external":
	case "":
		return bad("model.name", "required: lorenz63, lorenz96, ks or external")
	default:
		return bad("model.name", "unknown model %q (want lorenz63, lorenz96, ks or external)", m.Name)
	}
	if err := m.ValidateExternal(); err != nil {
		return err
	}
	if err := m.validateBuiltIn(); err != nil {
		return err
	}
	if !finite(m.Noise) || m.Noise < 0 {
		return bad("model.noise", "must be a finite standard deviation >= 0, got %v", m.Noise)
	}
	if !finite(c.Init.Variance) || c.Init.Variance < 0 {
		return bad("init.variance", "must be finite and >= 0, got %v", c.Init.Variance)
	}
	o := c.Observations
	switch o.Operator {
	case "identity", "every-k", "subset", "square", "abs":
	default:
		return bad("observations.operator", "unknown operator %q (want identity, every-k, subset, square or abs)", o.Operator)
	}
	if err := o.validateOperator(m.Nx); err != nil {
		return err
	}
	if o.StepsBetween < 1 {
		return bad("observations.steps_between", "must be >= 1, got %d", o.StepsBetween)
	}
	if !(o.Variance > 0) || !finite(o.Variance) {
		return bad("observations.variance", "must be finite and > 0, got %v", o.Variance)
	}
	f := c.Filter
	if !slices.Contains(enkf.Methods, enkf.Method(f.Method)) {
		return bad("filter.method", "unknown method %q (want one of %v)", f.Method, enkf.Methods)
	}
	if f.Members < 2 {
		return bad("filter.members", "need at least 2 members, got %d", f.Members)
	}
	if f.Members > 10000 {
		return bad("filter.members", "at most 10000 members are supported (the analysis is O(N³)), got %d", f.Members)
	}
	if f.Method != "letkf" && (f.LocRadius != 0 || f.BatchSize != 0) {
		return bad("filter.loc_radius", "and filter.batch_size are for the letkf, not %s", f.Method)
	}
	if f.Method == "letkf" && (f.BatchSize < 0 || f.BatchSize > m.Nx) {
		return bad("filter.batch_size", "must be 0..%d (model.nx; 0: one grid point per local analysis), got %d", m.Nx, f.BatchSize)
	}
	if err := c.validateAdaptive(); err != nil {
		return err
	}
	if v := o.VarianceEstimate; v != nil {
		if err := v.validate(c); err != nil {
			return err
		}
	}
	if err := c.validateWeightStride(); err != nil {
		return err
	}
	if err := c.Filter.EnKF().Validate(); err != nil {
		return bad("filter", "%s", strings.TrimPrefix(err.Error(), "enkf: "))
	}
	if c.Latent != nil {
		if err := c.Latent.validate(f.Method); err != nil {
			return err
		}
	}
	if c.OOD != nil {
		if err := c.OOD.validate(c.Latent); err != nil {
			return err
		}
		for _, chart := range []struct {
			key    string
			memory int
		}{{"manifold_memory", c.OOD.ManifoldMemory}, {"innovation_memory", c.OOD.InnovationMemory}} {
			if chart.memory != 0 && c.AnalysisBlocks() != nil {
				return fmt.Errorf("ood.%s: not available with orchestration.blocks (every block activity screens the cycle again, which would add it to the chart once per block)", chart.key)
			}
		}
	}
	if c.Anomaly != nil {
		if err := c.Anomaly.validate(c); err != nil {
			return err
		}
	}
	if err := c.validateOrchestration(); err != nil {
		return err
	}
	if err := c.Store.validate(); err != nil {
		return err
	}
	burnCycles := c.BurnIn / (float64(o.StepsBetween) * m.Dt)
	if burnCycles >= float64(c.Cycles) {
		return bad("burn_in", "%v time units is %.0f cycles, which leaves none of the %d cycles to score", c.BurnIn, burnCycles, c.Cycles)
	}
	return nil
}

// required lists the keys c must write (see [Missing]).
func (c Config) required() []Required {
	keys := []Required{
		{"cycles", "(the number of forecast–analysis cycles, >= 1)"},
		{"filter.members", "(the ensemble size, >= 2)"},
		{"filter.method", fmt.Sprintf("(one of %v)", enkf.Methods)},
	}
	keys = append(keys, c.Model.Required()...)
	if c.Observations.Operator == "every-k" {
		keys = append(keys, Required{"observations.every", "by operator every-k (observe every k-th variable: k from 1 to model.nx)"})
	}
	if c.Filter.Method == "letkf" {
		keys = append(keys, Required{"filter.loc_radius", "by method letkf (the localisation radius, > 0)"})
	}
	if c.Fanout() != nil {
		keys = append(keys, Required{"orchestration.fanout.members_per_task", "by orchestration.fanout (the members per forecast task, 1 to filter.members)"})
	}
	return keys
}

// Required lists the keys of a model section that a config must write
// (see [Missing]): model external's state_size and dt.
func (m ModelConfig) Required() []Required {
	if m.Name != "external" {
		return nil
	}
	return []Required{
		{"model.state_size", "by model external (its number of variables, >= 1)"},
		{"model.dt", "by model external (its time step, > 0)"},
	}
}

// EnKF converts to the enkf package's configuration (Validate checks it
// with enkf.Config.Validate).
func (f FilterConfig) EnKF() enkf.Config {
	ec := enkf.Config{
		Method:       enkf.Method(f.Method),
		Inflation:    float64(f.Inflation),
		Rotate:       f.Rotate,
		LocRadius:    f.LocRadius,
		BatchSize:    f.BatchSize,
		WeightStride: f.WeightStride,
	}
	switch f.AdaptiveScheme() {
	case SchemeEnKFN:
		ec.Inflation = 1
		ec.Adaptive = f.Adaptive.enkfN()
	case SchemeInnovation, SchemeLocalInnovation:
		ec.Inflation = 1
		ec.Innovation = &enkf.InnovationInflation{Local: f.AdaptiveScheme() == SchemeLocalInnovation}
		a := f.Adaptive
		if a != nil && a.PriorSD != nil {
			ec.Innovation.PriorSD = *a.PriorSD
		}
		if a != nil && a.MinInflation != nil {
			ec.Innovation.Min = *a.MinInflation
		}
		if a != nil && a.EnKFN {
			ec.Adaptive = a.enkfN()
		}
	}
	return ec
}

// validateWeightStride checks filter.weight_stride.
func (c Config) validateWeightStride() error {
	switch ws := c.Filter.WeightStride; {
	case ws < 0:
		return fmt.Errorf("filter.weight_stride: must be >= 1, got %d", ws)
	case ws > 1 && c.Filter.Method != "letkf":
		return fmt.Errorf("filter.weight_stride: %d is for the letkf, not %s", ws, c.Filter.Method)
	case ws > 1 && c.Model.Nx > 0 && ws >= c.batches():
		return fmt.Errorf("filter.weight_stride: %d must be below the number of batches of grid points, %d (model.nx %d, filter.batch_size %d)",
			ws, c.batches(), c.Model.Nx, max(c.Filter.BatchSize, 1))
	}
	return nil
}

// validateAdaptive checks filter.inflation and filter.adaptive.
func (c Config) validateAdaptive() error {
	f := c.Filter
	if !f.Inflation.Adaptive() && (!(f.Inflation > 0) || math.IsInf(float64(f.Inflation), 0)) {
		return fmt.Errorf("filter.inflation: want a finite number > 0 or %s, got %v", inflationWord, float64(f.Inflation))
	}
	if l := c.Latent; l != nil && f.Inflation.Adaptive() && l.AlphaEstimate != nil {
		return fmt.Errorf("latent.alpha_estimate: does not combine with filter.inflation %s (both would read the same innovations)", inflationWord)
	}
	if l := c.Latent; l != nil && f.Inflation.Adaptive() && (l.AnalysisOrDefault() != LatentETKF || l.AlphaOrDefault() < 1) {
		localHybrid := l.AnalysisOrDefault() == LatentHybridLocal && f.AdaptiveScheme() == SchemeLocalInnovation
		if !localHybrid {
			return fmt.Errorf("filter.inflation: adaptive is for the ensemble analyses, not a latent iterative or hybrid (alpha < 1) analysis; hybrid-local takes filter.adaptive.scheme %s", SchemeLocalInnovation)
		}
	}
	if f.Inflation.Adaptive() && c.AnalysisBlocks() != nil {
		return fmt.Errorf("filter.inflation: %s is not available with orchestration.blocks (the block-wise analysis does not gather the local inflations)", inflationWord)
	}
	if f.Adaptive == nil {
		return nil
	}
	if !f.Inflation.Adaptive() {
		return fmt.Errorf("filter.adaptive: tunes the adaptive inflation; set filter.inflation: %s (it is %v)", inflationWord, f.Inflation)
	}
	return f.Adaptive.validate(f.AdaptiveScheme(), f.Method)
}

// WithDefaultsNx returns the state dimension of the model with defaults.
func (m ModelConfig) WithDefaultsNx() int { return Config{Model: m}.WithDefaults().Model.Nx }

// CycleTime is the model time of cycle k (cycle 0 is the initial state).
func (c Config) CycleTime(k int) float64 {
	return float64(k*c.Observations.StepsBetween) * c.Model.Dt
}

// Scored reports whether cycle k (1-based) is past the burn-in and counts
// towards the time means.
func (c Config) Scored(k int) bool { return c.CycleTime(k) > c.BurnIn+1e-9 }

// Marshal returns the config as YAML (with defaults filled in).
func (c Config) Marshal() ([]byte, error) { return yaml.Marshal(c) }

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// spinUpTime is the model time a built-in model integrates to its
// reference state before cycle 0 (dynamics.Lorenz96SpinUp,
// dynamics.KSSpinUp; 0 for Lorenz-63's fixed point and external models).
func (m ModelConfig) spinUpTime() float64 {
	switch m.Name {
	case "lorenz96":
		return dynamics.Lorenz96SpinUp
	case "ks":
		return dynamics.KSSpinUp
	}
	return 0
}

// maxSpinUpSteps bounds the steps of a built-in model's spin-up to its
// reference state (50 time units for Lorenz-96, 150 for KS): a smaller
// dt would take hours before the first cycle, with nothing to show.
const maxSpinUpSteps = 1e7

// validateBuiltIn checks the parameters of a built-in model, and that the
// parameters of the other models are not written (they would be ignored).
func (m ModelConfig) validateBuiltIn() error {
	var own []string
	switch m.Name {
	case "lorenz63":
		if m.Nx != 3 {
			return fmt.Errorf("model.nx: lorenz63 has 3 variables, got %d", m.Nx)
		}
		for _, p := range []struct {
			key string
			v   float64
		}{{"sigma", m.Sigma}, {"rho", m.Rho}, {"beta", m.Beta}} {
			if !finite(p.v) {
				return fmt.Errorf("model.%s: must be finite, got %v", p.key, p.v)
			}
		}
		own = []string{"sigma", "rho", "beta"}
	case "lorenz96":
		if m.Nx < 4 {
			return fmt.Errorf("model.nx: lorenz96 needs at least 4 variables, got %d", m.Nx)
		}
		if !finite(m.Forcing) {
			return fmt.Errorf("model.forcing: must be finite, got %v", m.Forcing)
		}
		own = []string{"forcing"}
	case "ks":
		if m.Nx < 8 || m.Nx%2 != 0 {
			return fmt.Errorf("model.nx: ks needs an even number of grid points >= 8, got %d", m.Nx)
		}
		if !(m.Length > 0) || !finite(m.Length) {
			return fmt.Errorf("model.length: must be finite and > 0, got %v", m.Length)
		}
		own = []string{"length"}
	default:
		return nil
	}
	if !(m.Dt > 0) || !finite(m.Dt) {
		return fmt.Errorf("model.dt: must be finite and > 0, got %v", m.Dt)
	}
	if spinUp := m.spinUpTime(); spinUp/m.Dt > maxSpinUpSteps {
		return fmt.Errorf("model.dt: %g takes %.3g steps to spin up the reference state (%g time units); at most %g (dt >= %g)", m.Dt, spinUp/m.Dt, spinUp, maxSpinUpSteps, spinUp/maxSpinUpSteps)
	}
	for _, p := range []struct {
		key string
		v   float64
	}{{"forcing", m.Forcing}, {"length", m.Length}, {"sigma", m.Sigma}, {"rho", m.Rho}, {"beta", m.Beta}} {
		if p.v != 0 && !slices.Contains(own, p.key) {
			return fmt.Errorf("model.%s: not a parameter of %s (its own: %s)", p.key, m.Name, strings.Join(own, ", "))
		}
	}
	return nil
}

// validateOperator checks the operator's own settings against a state of
// nx variables, and that another operator's are not written.
func (o ObsConfig) validateOperator(nx int) error {
	switch o.Operator {
	case "identity":
		if o.Every != 0 || o.Offset != 0 || len(o.Indices) > 0 {
			return fmt.Errorf("observations: every, offset and indices are not for operator identity (it observes every variable)")
		}
	case "every-k":
		if len(o.Indices) > 0 {
			return fmt.Errorf("observations.indices: not for operator every-k (it takes every and offset)")
		}
		if o.Every < 1 || o.Every > nx {
			return fmt.Errorf("observations.every: must be 1..%d (model.nx), got %d", nx, o.Every)
		}
		if o.Offset < 0 || o.Offset >= nx {
			return fmt.Errorf("observations.offset: must be 0..%d (model.nx − 1), got %d", nx-1, o.Offset)
		}
	case "subset", "square", "abs":
		if o.Every != 0 || o.Offset != 0 {
			return fmt.Errorf("observations: every and offset are not for operator %s (it takes indices)", o.Operator)
		}
		if o.Operator == "subset" && len(o.Indices) == 0 {
			return fmt.Errorf("observations.indices: operator subset needs the observed variables' indices")
		}
		seen := map[int]bool{}
		for i, k := range o.Indices {
			if k < 0 || k >= nx {
				return fmt.Errorf("observations.indices[%d]: must be 0..%d (model.nx − 1), got %d", i, nx-1, k)
			}
			if seen[k] {
				return fmt.Errorf("observations.indices[%d]: variable %d is observed twice", i, k)
			}
			seen[k] = true
		}
	}
	return nil
}
