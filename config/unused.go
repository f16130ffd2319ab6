package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A key that only some settings of the rest of a config read (ood.outlier_k
// is read by the outlier test alone) would be silently ignored when
// written without them. [Config.Validate] cannot tell a written key from a
// default, so the check is made where the YAML document is at hand: [Parse]
// refuses such a key in a user's file, and [Config.Override] in a setting.
// A config the engine wrote ([ParseStored]) holds every key with its
// default, used or not, and is not checked; but a key it holds with
// another value was set by its user, and [Config.Override] refuses
// settings that leave such a key unused (orphaned).

// usage says when the config reads a key.
type usage struct {
	used func(Config) bool // whether the config, with its defaults, reads the key
	when string            // when it is read: "only used <when>"
	fix  string            // what would make it read: "remove it or <fix>"
}

// The batch tests of the ood section: they flag a cycle's whole batch.
var batchTests = []string{TestInnovation, TestProjection, TestManifold}

// usages holds the keys that only some settings read, by their YAML path.
var usages = map[string]usage{
	"ood.outlier_k": {func(c Config) bool { return lists(c, TestOutlier) && !c.OOD.Familywise() },
		"by the outlier test without a family-wise ood.outlier_control", "list outlier in ood.tests"},
	"ood.outlier_control": {func(c Config) bool { return lists(c, TestOutlier) },
		"by the outlier test", "list outlier in ood.tests"},
	"ood.alpha": {func(c Config) bool { return lists(c, batchTests...) || lists(c, TestOutlier) && c.OOD.Familywise() },
		"by the batch tests (innovation, projection, manifold) and the outlier test under ood.outlier_control bonferroni or bh",
		"list a batch test in ood.tests, or set ood.outlier_control bonferroni or bh"},
	"ood.generator": {func(c Config) bool { return lists(c, TestProjection, TestManifold) },
		"by the projection and manifold tests", "list projection or manifold in ood.tests"},
	"ood.lambda": {func(c Config) bool { return lists(c, TestProjection, TestManifold) },
		"by the projection and manifold tests", "list projection or manifold in ood.tests"},
	"ood.max_iter": {func(c Config) bool { return lists(c, TestProjection, TestManifold) },
		"by the projection and manifold tests", "list projection or manifold in ood.tests"},
	"ood.calibration": {func(c Config) bool { return lists(c, TestProjection) },
		"by the projection test (the manifold test is always calibrated empirically)", "list projection in ood.tests"},
	"ood.calibration_samples": {func(c Config) bool {
		return lists(c, TestManifold) || lists(c, TestProjection) && c.OOD.Calibration == CalibrationEmpirical
	}, "by the manifold test and the projection test with ood.calibration empirical",
		"list manifold in ood.tests, or projection with ood.calibration empirical"},
	"ood.innovation_calibration": {func(c Config) bool { return lists(c, TestInnovation) },
		"by the innovation test", "list innovation in ood.tests"},
	"ood.innovation_memory": {func(c Config) bool { return lists(c, TestInnovation) },
		"by the innovation test", "list innovation in ood.tests"},
	"ood.manifold_memory": {func(c Config) bool { return lists(c, TestManifold) },
		"by the manifold test", "list manifold in ood.tests"},
	"ood.pause_on_batch": {func(c Config) bool { return lists(c, batchTests...) },
		"with a batch test, which flags a whole batch (innovation, projection or manifold)", "list one in ood.tests"},

	"anomaly.from_cycle": {func(c Config) bool {
		a := c.Anomaly
		return a != nil && (a.Forcing != 0 || a.Length != 0 || a.Bias != 0 || a.Pattern != "" || a.NoiseVariance > 0)
	}, "with an anomaly to start (anomaly.forcing, length, bias, pattern or noise_variance)", "set one of them"},
	"anomaly.forcing": {func(c Config) bool { return c.Model.Name == "lorenz96" },
		"with model.name lorenz96", "set model.name lorenz96"},
	"anomaly.length": {func(c Config) bool { return c.Model.Name == "ks" },
		"with model.name ks", "set model.name ks"},
	"anomaly.bias_index": {func(c Config) bool { return c.Anomaly != nil && c.Anomaly.Bias != 0 },
		"with a sensor bias (anomaly.bias other than 0)", "set anomaly.bias"},
	"anomaly.spike_every": {func(c Config) bool { return c.Anomaly != nil && c.Anomaly.Bias != 0 },
		"with a sensor bias (anomaly.bias other than 0)", "set anomaly.bias"},
	"anomaly.amplitude":       patternUsage(""),
	"anomaly.unobserved_only": patternUsage(""),
	"anomaly.dynamical":       patternUsage(""),
	"anomaly.center":          patternUsage("bump"),
	"anomaly.width":           patternUsage("bump"),
	"anomaly.wavenumber":      patternUsage("wave"),

	"latent.projection_iters": {func(c Config) bool { return c.Latent != nil && c.Latent.Encoding == "projection" },
		"with latent.encoding projection", "set latent.encoding projection"},
	"latent.representation_error": {func(c Config) bool { return c.Latent != nil && c.Latent.AnalysisOrDefault() != LatentHybridLocal },
		"by the analyses of the codes (latent.analysis etkf or iterative), not hybrid-local", "set latent.analysis etkf or iterative"},
}

// lists reports whether the config has an ood section that lists one of
// tests (the default tests if it lists none).
func lists(c Config, tests ...string) bool {
	return c.OOD != nil && slices.ContainsFunc(tests, c.OOD.Has)
}

// patternUsage is the usage of an anomaly key read with the pattern kind
// ("" for either).
func patternUsage(kind string) usage {
	if kind == "" {
		return usage{func(c Config) bool { return c.Anomaly != nil && c.Anomaly.Pattern != "" },
			"with anomaly.pattern", "set anomaly.pattern bump or wave"}
	}
	return usage{func(c Config) bool { return c.Anomaly != nil && c.Anomaly.Pattern == kind },
		"with anomaly.pattern " + kind, "set anomaly.pattern " + kind}
}

// unused returns an error for the first key, in document order, written
// in YAML node v (the value of key path, written on line; "" and 0 for a
// whole document, and line -1 for a value not from a file) that c, the config v is part of, leaves unused (usages).
// A key written null is unset, not written.
func unused(key string, line int, v *yaml.Node, c Config) error {
	if v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil
	}
	if u, ok := usages[key]; ok && !u.used(c) {
		at := ""
		if line > 0 {
			at = fmt.Sprintf("line %d: ", line)
		}
		return fmt.Errorf("%s: %sonly used %s; remove it or %s", key, at, u.when, u.fix)
	}
	if v.Kind == yaml.DocumentNode && len(v.Content) > 0 {
		return unused(key, line, v.Content[0], c)
	}
	if v.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, at := v.Content[i], v.Content[i].Line
		if line < 0 {
			at = line
		}
		if err := unused(join(key, k.Value), at, v.Content[i+1], c); err != nil {
			return err
		}
	}
	return nil
}

// userSet returns the keys of usages that c reads and holds with a value
// other than its default, in sorted order, with their values as YAML:
// values its user set. root is c's mapping (prunedNode). A key whose
// default does not give a valid config (ood.generator for the manifold
// test has none) counts as set. A key c does not read (in a config stored
// before such keys were refused) does not.
func userSet(c Config, root *yaml.Node) (keys []string, values map[string]string) {
	values = map[string]string{}
	for _, key := range slices.Sorted(maps.Keys(usages)) {
		v := scalarAt(root, key)
		if v == "" || !usages[key].used(c) {
			continue
		}
		if def, ok := defaultAt(c, key); ok && def == v {
			continue
		}
		keys, values[key] = append(keys, key), v
	}
	return keys, values
}

// defaultAt returns the YAML of the value that c takes at key with the
// key unset, and whether that config is valid.
func defaultAt(c Config, key string) (string, bool) {
	root, err := prunedNode(c)
	if err != nil {
		return "", false
	}
	deleteKey(root, key)
	data, err := yaml.Marshal(root)
	if err != nil {
		return "", false
	}
	unset, err := ParseStored(data)
	if err != nil {
		return "", false
	}
	if root, err = prunedNode(unset); err != nil {
		return "", false
	}
	return scalarAt(root, key), true
}

// orphaned returns an error for the first key of set (userSet: values
// the stored config's user set) that after (the config with settings
// applied) leaves unused, unless a setting names it or a section holding
// it, or after has no such section: a value the settings (written as
// the user wrote them) would silently drop.
func orphaned(set []string, values map[string]string, after Config, settings []setting, written []string) error {
	root, err := prunedNode(after)
	if err != nil {
		return err
	}
	for _, key := range set {
		touched := slices.ContainsFunc(settings, func(s setting) bool { return key == s.key || strings.HasPrefix(key, s.key+".") })
		section, _, _ := strings.Cut(key, ".")
		if m, _ := findKey(root, section); touched || usages[key].used(after) || m == nil {
			continue
		}
		u := usages[key]
		return fmt.Errorf("%s: %s, kept from the stored config, is only used %s, which %s leaves out; add %s=null to drop it, or %s",
			key, values[key], u.when, strings.Join(written, " "), key, u.fix)
	}
	return nil
}

// findKey returns the mapping under n that holds dotted key and the index
// of the key's node in it (its value follows), or nil and -1. It follows
// aliases.
func findKey(n *yaml.Node, key string) (*yaml.Node, int) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	part, rest, nested := strings.Cut(key, ".")
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value != part {
			continue
		}
		if nested {
			return findKey(n.Content[j+1], rest)
		}
		return n, j
	}
	return nil, -1
}

// deleteKey removes dotted key from mapping n, if it is there.
func deleteKey(n *yaml.Node, key string) {
	if m, j := findKey(n, key); m != nil {
		m.Content = slices.Delete(m.Content, j, j+2)
	}
}

// scalarAt returns the value at dotted key in mapping n as one line of
// YAML, or "" if n has no such key.
func scalarAt(n *yaml.Node, key string) string {
	m, j := findKey(n, key)
	if m == nil {
		return ""
	}
	out, err := yaml.Marshal(m.Content[j+1])
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.ReplaceAll(string(out), "\n", " "))
}

// prunedNode returns the YAML mapping of c without its zero values
// (pruneZeros), as [Config.Override] edits it.
func prunedNode(c Config) (*yaml.Node, error) {
	data, err := c.Marshal()
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	root := doc.Content[0]
	pruneZeros(root)
	return root, nil
}
