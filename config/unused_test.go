package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// unusedCases are keys written where the rest of the config leaves them
// unused: each is refused, naming the key, its line (9: the first line after
// validYAML) and what would make it used.
var unusedCases = []struct{ name, yaml, want string }{
	{"outlier_k without the outlier test", "ood: {tests: [innovation], outlier_k: 4}",
		"ood.outlier_k: line 9: only used by the outlier test without a family-wise ood.outlier_control; remove it or list outlier in ood.tests"},
	{"outlier_k 3 (the default) without the outlier test", "ood: {tests: [innovation], outlier_k: 3}", "ood.outlier_k: line 9: only used by the outlier test"},
	{"outlier_control without the outlier test", "ood: {tests: [innovation], outlier_control: bh}", "ood.outlier_control: line 9: only used by the outlier test; remove it or list outlier in ood.tests"},
	{"outlier_control none without the outlier test", "ood: {tests: [innovation], outlier_control: none}", "ood.outlier_control: line 9: only used by the outlier test"},
	{"alpha with the outlier test at k", "ood: {tests: [outlier], alpha: 0.05}",
		"ood.alpha: line 9: only used by the batch tests (innovation, projection, manifold) and the outlier test under ood.outlier_control bonferroni or bh; remove it or list a batch test in ood.tests, or set ood.outlier_control bonferroni or bh"},
	{"generator without a projection", "ood: {tests: [outlier, innovation], generator: g.arrow}", "ood.generator: line 9: only used by the projection and manifold tests; remove it or list projection or manifold in ood.tests"},
	{"lambda without a projection", "ood: {lambda: 2}", "ood.lambda: line 9: only used by the projection and manifold tests"},
	{"max_iter without a projection", "ood: {max_iter: 5}", "ood.max_iter: line 9: only used by the projection and manifold tests"},
	{"calibration without the projection test", "ood: {calibration: chi2}", "ood.calibration: line 9: only used by the projection test (the manifold test is always calibrated empirically); remove it or list projection in ood.tests"},
	{"calibration with the manifold test only", "ood: {tests: [manifold], generator: g.arrow, calibration: empirical}", "ood.calibration: line 9: only used by the projection test"},
	{"calibration_samples without a calibrated test", "ood: {calibration_samples: 500}", "ood.calibration_samples: line 9: only used by the manifold test and the projection test with ood.calibration empirical"},
	{"calibration_samples too few for alpha, without a calibrated test", "ood: {alpha: 0.001, calibration_samples: 50}", "ood.calibration_samples: line 9: only used by"},
	{"calibration_samples with a chi2 projection", "ood: {generator: g.arrow, calibration: chi2, calibration_samples: 500}", "ood.calibration_samples: line 9: only used by"},
	{"innovation_calibration chi2 without the innovation test", "ood: {tests: [outlier], innovation_calibration: chi2}", "ood.innovation_calibration: line 9: only used by the innovation test; remove it or list innovation in ood.tests"},
	{"innovation_memory 0 without the innovation test", "ood: {tests: [outlier], innovation_memory: 0}", "ood.innovation_memory: line 9: only used by the innovation test"},
	{"manifold_memory 0 without the manifold test", "ood: {manifold_memory: 0}", "ood.manifold_memory: line 9: only used by the manifold test; remove it or list manifold in ood.tests"},
	{"pause_on_batch without a batch test", "ood: {tests: [outlier], pause_on_batch: true}", "ood.pause_on_batch: line 9: only used with a batch test, which flags a whole batch (innovation, projection or manifold); remove it or list one in ood.tests"},
	{"block style", "ood:\n  tests: [innovation]\n  outlier_k: 4", "ood.outlier_k: line 11: only used"},
	{"from_cycle without an anomaly", "anomaly: {from_cycle: 5}", "anomaly.from_cycle: line 9: only used with an anomaly to start (anomaly.forcing, length, bias, pattern or noise_variance); remove it or set one of them"},
	{"bias_index without a bias", "anomaly: {noise_variance: 2, bias_index: 3}", "anomaly.bias_index: line 9: only used with a sensor bias (anomaly.bias other than 0); remove it or set anomaly.bias"},
	{"bias_index with bias 0", "anomaly: {bias: 0, bias_index: 3, noise_variance: 2}", "anomaly.bias_index: line 9: only used with a sensor bias"},
	{"spike_every without a bias", "anomaly: {noise_variance: 2, spike_every: 4}", "anomaly.spike_every: line 9: only used with a sensor bias"},
	{"amplitude without a pattern", "anomaly: {bias: 1, amplitude: 2}", "anomaly.amplitude: line 9: only used with anomaly.pattern; remove it or set anomaly.pattern bump or wave"},
	{"unobserved_only false without a pattern", "anomaly: {bias: 1, unobserved_only: false}", "anomaly.unobserved_only: line 9: only used with anomaly.pattern"},
	{"dynamical false without a pattern", "anomaly: {bias: 1, dynamical: false}", "anomaly.dynamical: line 9: only used with anomaly.pattern"},
	{"center of a wave", "anomaly: {pattern: wave, amplitude: 1, center: 4}", "anomaly.center: line 9: only used with anomaly.pattern bump; remove it or set anomaly.pattern bump"},
	{"width of a wave", "anomaly: {pattern: wave, amplitude: 1, width: 3}", "anomaly.width: line 9: only used with anomaly.pattern bump"},
	{"wavenumber of a bump", "anomaly: {pattern: bump, amplitude: 1, wavenumber: 3}", "anomaly.wavenumber: line 9: only used with anomaly.pattern wave; remove it or set anomaly.pattern wave"},
	{"length 0 of a lorenz96 anomaly", "anomaly: {bias: 1, length: 0}", "anomaly.length: line 9: only used with model.name ks; remove it or set model.name ks"},
	{"projection_iters with the amortised encoding", "latent: {generator: identity, projection_iters: 5}",
		"latent.projection_iters: line 9: only used with latent.encoding projection; remove it or set latent.encoding projection"},
	{"representation_error false with hybrid-local", "latent: {generator: identity, analysis: hybrid-local, update: increment, representation_error: false}",
		"latent.representation_error: line 9: only used by the analyses of the codes (latent.analysis etkf or iterative), not hybrid-local; remove it or set latent.analysis etkf or iterative"},
}

// usedCases write the keys of unusedCases where they are used.
var usedCases = []struct{ name, yaml string }{
	{"outlier_k with the outlier test", "ood: {tests: [outlier, innovation], outlier_k: 4}"},
	{"outlier_k with the default tests", "ood: {outlier_k: 4}"},
	{"outlier_control with the outlier test", "ood: {tests: [outlier], outlier_control: bh}"},
	{"alpha with a batch test", "ood: {tests: [innovation], alpha: 0.05}"},
	{"alpha with a family-wise outlier test", "ood: {tests: [outlier], outlier_control: bonferroni, alpha: 0.05}"},
	{"generator with the default tests", "ood: {generator: g.arrow, lambda: 2, max_iter: 5, calibration: chi2}"},
	{"generator with the manifold test", "ood: {tests: [manifold], generator: g.arrow, lambda: 2, max_iter: 5, calibration_samples: 500}"},
	{"calibration_samples with an empirical projection", "ood: {tests: [projection], generator: g.arrow, calibration: empirical, calibration_samples: 500}"},
	{"innovation settings with the innovation test", "ood: {tests: [innovation], innovation_calibration: chi2, innovation_memory: 0, pause_on_batch: true}"},
	{"manifold_memory with the manifold test", "ood: {tests: [manifold], generator: g.arrow, manifold_memory: 0}"},
	{"a key written null is unset", "ood: {tests: [innovation], outlier_k: null}"},
	{"bias settings with a bias", "anomaly: {from_cycle: 5, bias: 1, bias_index: 3, spike_every: 4}"},
	{"bump settings", "anomaly: {pattern: bump, amplitude: 1, center: 4, width: 3, unobserved_only: false, dynamical: false}"},
	{"wave settings", "anomaly: {pattern: wave, amplitude: 1, wavenumber: 3}"},
	{"forcing of a lorenz96 anomaly", "anomaly: {forcing: 9, from_cycle: 2}"},
	{"projection_iters with the projection encoding", "latent: {generator: identity, encoding: projection, projection_iters: 5}"},
	{"representation_error with the codes' analysis", "latent: {generator: g.arrow, representation_error: false}"},
}

// TestParseUnused: a key that the rest of the config leaves unused is
// refused, with its line and what would make it used; the same key where
// it is used is accepted.
func TestParseUnused(t *testing.T) {
	for _, tc := range unusedCases {
		t.Run(tc.name, func(t *testing.T) {
			doc := validYAML
			if strings.Contains(tc.yaml, "hybrid-local") {
				doc = strings.Replace(doc, "method: etkf", "method: letkf, loc_radius: 4", 1)
			}
			_, err := Parse([]byte(doc + tc.yaml + "\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	for _, tc := range usedCases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse([]byte(validYAML + tc.yaml + "\n")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestStoredUnusedDefaults: a run directory's config.yaml holds every key
// with its default, the unused ones too. It reads back with or without its
// checksum line (LoadStored), through Load with it, and --set overrides
// of it check only the keys they set; a user's file holding the same
// lines is the user's, and refused.
func TestStoredUnusedDefaults(t *testing.T) {
	for _, section := range []string{
		"ood: {tests: [innovation]}\nanomaly: {from_cycle: 5, bias: 1, bias_index: 3}\n",
		"ood: {tests: [outlier]}\nanomaly: {pattern: wave, amplitude: 1}\n",
		"latent: {generator: g.arrow}\n",
	} {
		cfg := mustParse(t, validYAML+section)
		stored, err := cfg.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(stored); err == nil || !strings.Contains(err.Error(), "only used") {
			t.Errorf("%s: its config.yaml as a user's file: %v, want an unused key refused", section, err)
		}
		dir := t.TempDir()
		with, without := filepath.Join(dir, "with.yaml"), filepath.Join(dir, "without.yaml")
		if err := os.WriteFile(with, WithChecksum(stored), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(without, stored, 0o600); err != nil {
			t.Fatal(err)
		}
		for name, load := range map[string]func() (Config, error){
			"LoadStored with checksum":    func() (Config, error) { return LoadStored(with) },
			"LoadStored without checksum": func() (Config, error) { return LoadStored(without) },
			"Load with checksum":          func() (Config, error) { return Load(with) },
		} {
			if got, err := load(); err != nil || got.Name != cfg.Name {
				t.Errorf("%s: %s: %+v, %v", section, name, got, err)
			}
		}
		if !SameStored(stored, stored) {
			t.Errorf("%s: SameStored refuses its own config.yaml", section)
		}
		if got, err := cfg.Override([]string{"cycles=50"}); err != nil || got.Cycles != 50 {
			t.Errorf("%s: --set cycles=50: %v", section, err)
		}
	}
}

// TestOverrideUnused: a setting of a key that the result leaves unused is
// refused as in a file, without a line; one that the result uses, or that
// makes a key used, is applied.
func TestOverrideUnused(t *testing.T) {
	base := mustParse(t, validYAML+"ood: {tests: [innovation]}\n")
	for _, tc := range []struct{ set, want string }{
		{"ood.outlier_k=4", "config: setting ood.outlier_k: only used by the outlier test without a family-wise ood.outlier_control; remove it or list outlier in ood.tests"},
		{"anomaly.bias_index=3", "config: setting anomaly.bias_index: only used with a sensor bias"},
		{"anomaly={noise_variance: 2, spike_every: 3}", "config: setting anomaly.spike_every: only used with a sensor bias"},
	} {
		t.Run(tc.set, func(t *testing.T) {
			_, err := base.Override([]string{tc.set})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error starting %q", err, tc.want)
			}
		})
	}
	got, err := base.Override([]string{"ood.tests=[outlier, innovation]", "ood.outlier_k=4", "anomaly={bias: 2, bias_index: 3}"})
	if err != nil || got.OOD.OutlierK != 4 || got.Anomaly.BiasIndex != 3 {
		t.Errorf("settings that are used: %+v, %v", got.OOD, err)
	}
	// A stored key its user set, left unused by a setting, is refused;
	// unset with it, or at its default, it goes.
	want := "config: ood.outlier_k: 4, kept from the stored config, is only used by the outlier test without a family-wise ood.outlier_control, which ood.tests=[innovation] leaves out; add ood.outlier_k=null to drop it, or list outlier in ood.tests"
	if _, err := got.Override([]string{"ood.tests=[innovation]"}); err == nil || err.Error() != want {
		t.Errorf("a setting that leaves a set stored key unused: %v, want %q", err, want)
	}
	if c, err := got.Override([]string{"ood.tests=[innovation]", "ood.outlier_k=null"}); err != nil || c.OOD.Has(TestOutlier) {
		t.Errorf("the same with the key unset: %v", err)
	}
	atDefault, err := base.Override([]string{"ood.tests=[outlier, innovation]"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := atDefault.Override([]string{"ood.tests=[innovation]"}); err != nil {
		t.Errorf("a setting that leaves a stored key at its default unused: %v", err)
	}
	// A key at its default takes the result's: ood.outlier_k has none
	// under a family-wise control, so the stored 3 must not stay.
	if c, err := atDefault.Override([]string{"ood.outlier_control=bonferroni"}); err != nil || c.OOD.OutlierK != 0 {
		t.Errorf("a family-wise control on a stored outlier test: %+v, %v", c.OOD, err)
	}
	// A default that depends on another key (the wave's wavenumber, nx/2)
	// is not a value its user set.
	wave := mustParse(t, validYAML+"anomaly: {pattern: wave, amplitude: 1}\n")
	if c, err := wave.Override([]string{"anomaly.pattern=bump"}); err != nil || c.Anomaly.Pattern != "bump" {
		t.Errorf("wave to bump: %v", err)
	}
	// Dropping a section drops its keys, set or not.
	withAll := mustParse(t, validYAML+"anomaly: {pattern: wave, amplitude: 1, wavenumber: 3}\nood: {tests: [outlier], outlier_k: 4}\n")
	for _, drop := range []string{"anomaly=null", "ood=null"} {
		if _, err := withAll.Override([]string{drop}); err != nil {
			t.Errorf("%s: %v", drop, err)
		}
	}
	// A stored key its config does not read (stored before such keys
	// were refused) is not the user's to keep: other settings go.
	old := got
	old.OOD = &OODConfig{}
	*old.OOD = *got.OOD
	old.OOD.Tests = []string{TestInnovation}
	if c, err := old.Override([]string{"cycles=50"}); err != nil || c.Cycles != 50 {
		t.Errorf("a setting beside a stored key the config does not read: %v", err)
	}
	withLatent := mustParse(t, validYAML+"latent: {generator: identity, representation_error: true}\n")
	if c, err := withLatent.Override([]string{"latent=null"}); err != nil || c.Latent != nil {
		t.Errorf("latent=null: %v", err)
	}
}
