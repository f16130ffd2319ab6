package config

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The config schema is the Go type of a config: its yaml tags are the
// keys. checkNode walks a YAML document against it before decoding, so
// that an unknown key or a value of the wrong type is reported by its key
// path with what would be right, rather than by a Go type name.

var durationType = reflect.TypeFor[time.Duration]()

// yamlKeys returns the YAML keys of struct type t and their fields' types.
func yamlKeys(t reflect.Type) (names []string, types map[string]reflect.Type) {
	types = map[string]reflect.Type{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		names = append(names, name)
		types[name] = f.Type
	}
	return names, types
}

// describe says what a value of type t looks like in YAML.
func describe(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		return "a duration such as 30s or 2m"
	case t == reflect.TypeFor[Inflation]():
		return "a number > 0 or " + inflationWord
	case t.Kind() == reflect.Struct:
		names, _ := yamlKeys(t)
		return "a mapping with keys " + strings.Join(names, ", ")
	case t.Kind() == reflect.Slice:
		return "a list of " + strings.TrimPrefix(describe(t.Elem()), "a ")
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "an integer"
	case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		return "an integer >= 0"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	}
	return t.String()
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var (
	decimalInt = regexp.MustCompile(`^[-+]?(0|[1-9][0-9]*)$`)
	plainBool  = regexp.MustCompile(`^(true|True|TRUE|false|False|FALSE)$`)
)

// checkNode checks YAML node n, found at key path, against type t.
func checkNode(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	bad := func() error {
		what := n.Value
		switch {
		case n.Kind != yaml.ScalarNode:
			what = map[yaml.Kind]string{yaml.MappingNode: "a mapping", yaml.SequenceNode: "a list"}[n.Kind]
		case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
			what = strconv.Quote(n.Value) + " (a string)"
		case n.Style&yaml.TaggedStyle != 0:
			what = n.Tag + " " + n.Value
		}
		return fmt.Errorf("%s: line %d: want %s, got %s", path, n.Line, describe(t), what)
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // the zero value: the default
	}
	switch {
	case t.Kind() == reflect.Struct && t != durationType:
		if n.Kind != yaml.MappingNode {
			return bad()
		}
		names, types := yamlKeys(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			ft, ok := types[k]
			if !ok {
				if err := movedError(join(path, k), n.Content[i], n.Content[i+1]); err != nil {
					return err
				}
				where := "at the top level"
				if path != "" {
					where = "under " + path
				}
				return fmt.Errorf("%s: line %d: unknown key; the keys %s are %s", join(path, k), n.Content[i].Line, where, strings.Join(names, ", "))
			}
			if err := checkNode(n.Content[i+1], ft, join(path, k)); err != nil {
				return err
			}
		}
		return nil
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return bad()
		}
		if len(n.Content) > MaxListLength {
			return fmt.Errorf("%s: line %d: %d entries, over the limit of %d for a list in a config", path, n.Line, len(n.Content), MaxListLength)
		}
		for i, e := range n.Content {
			if err := checkNode(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return bad()
	}
	// The YAML decoder truncates a float into an integer field (1.5 → 1),
	// reads 010 as octal 8 and yes, no, on and off as booleans: an integer
	// is written in decimal, a boolean as true or false.
	isInt := t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64 && t != durationType
	if isInt && (n.ShortTag() == "!!float" || !decimalInt.MatchString(n.Value)) {
		return bad()
	}
	if t.Kind() == reflect.Bool && !plainBool.MatchString(n.Value) {
		return bad()
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		return bad()
	}
	return nil
}

// movedError returns the error for key k at path key, with value v, if
// the key moved to the orchestration section (movedKeys), else nil.
func movedError(key string, k, v *yaml.Node) error {
	to, moved := movedKeys[key]
	if !moved {
		return nil
	}
	line := k.Line
	if key == "forecast" && v.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(v.Content); i += 2 {
			if v.Content[i].Value == "fanout" {
				key, line, to = "forecast.fanout", v.Content[i].Line, movedKeys["forecast.fanout"]
			}
		}
	}
	return fmt.Errorf("%s: line %d: moved to %s", key, line, to)
}

// pruneLegacy removes "blocks: 0" from the filter mapping of config
// document root and reports whether it did. Every config.yaml written
// before the analysis blocks moved to orchestration.blocks holds it (the
// field was always written); 0, no blocks, means there what it always
// meant. Any other value is refused as moved (movedError).
func pruneLegacy(root *yaml.Node) bool {
	if root.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		f := root.Content[i+1]
		if root.Content[i].Value != "filter" || f.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(f.Content); j += 2 {
			if v := f.Content[j+1]; f.Content[j].Value == "blocks" && v.Kind == yaml.ScalarNode && v.ShortTag() == "!!int" && v.Value == "0" {
				f.Content = append(f.Content[:j], f.Content[j+2:]...)
				return true
			}
		}
	}
	return false
}

// keyType returns the type of the value at a dotted key path of type t,
// or an error naming the first unknown part and the keys allowed there.
func keyType(t reflect.Type, key string) (reflect.Type, error) {
	for p := key; p != ""; p, _, _ = cutLast(p) {
		if to, moved := movedKeys[p]; moved {
			return nil, fmt.Errorf("%s: moved to %s", p, to)
		}
	}
	path := ""
	for part := range strings.SplitSeq(key, ".") {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == durationType {
			return nil, fmt.Errorf("%s: %s holds %s, not keys", key, path, describe(t))
		}
		names, types := yamlKeys(t)
		ft, ok := types[part]
		if !ok {
			where := "at the top level"
			if path != "" {
				where = "under " + path
			}
			return nil, fmt.Errorf("%s: unknown key; the keys %s are %s", join(path, part), where, strings.Join(names, ", "))
		}
		t, path = ft, join(path, part)
	}
	return t, nil
}

// cutLast cuts a dotted key path at its last dot ("" for a single key).
func cutLast(key string) (parent, last string, found bool) {
	i := strings.LastIndex(key, ".")
	if i < 0 {
		return "", key, false
	}
	return key[:i], key[i+1:], true
}

// setKey sets the dotted key of mapping node n to value, creating the
// mappings on the way.
func setKey(n *yaml.Node, key string, value *yaml.Node) {
	part, rest, nested := strings.Cut(key, ".")
	i := -1 // index of part's value in n.Content
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value == part {
			i = j + 1
		}
	}
	if i < 0 {
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: part}, nil)
		i = len(n.Content) - 1
	}
	if !nested {
		n.Content[i] = value
		return
	}
	if n.Content[i] == nil || n.Content[i].Kind != yaml.MappingNode {
		n.Content[i] = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	setKey(n.Content[i], rest, value)
}

// pruneZeros removes the keys of mapping n, and of the mappings in it,
// whose values are zero (0, "", false, null). In a config written with its
// defaults they are the keys nobody set, or whose default is zero; left
// in, a setting that changes which default applies (ood.outlier_control,
// anomaly.pattern) would find them written as zeros and refuse them.
func pruneZeros(n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		return
	}
	kept := n.Content[:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind == yaml.ScalarNode && isZeroScalar(v) {
			continue
		}
		pruneZeros(v)
		kept = append(kept, k, v)
	}
	n.Content = kept
}

// isZeroScalar reports whether scalar n is a zero number, an empty string,
// false or null.
func isZeroScalar(n *yaml.Node) bool {
	switch n.ShortTag() {
	case "!!null":
		return true
	case "!!bool":
		return strings.EqualFold(n.Value, "false")
	case "!!int", "!!float":
		f, err := strconv.ParseFloat(n.Value, 64)
		return err == nil && f == 0
	case "!!str":
		return n.Value == ""
	}
	return false
}

// lineRef is the "line N: " of an error about a YAML document.
var lineRef = regexp.MustCompile(`line \d+: `)

// Override returns c with settings "key=value" applied, where key is a
// dotted path of the YAML config (filter.inflation) and value is YAML
// (1.05, etkf, [0, 2, 4], {members_per_task: 8}). Unknown keys and values
// of the wrong type are errors naming the key and what it accepts; the
// result is validated as a config file is, and a setting of a key that the
// result leaves unused is refused as in a file ([Parse]), and so are
// settings that leave unused a key c holds with other than its default
// (a value c's user set, which would be dropped without a word). A key c
// holds at its default takes the result's default.
func (c Config) Override(settings []string) (Config, error) {
	root, err := prunedNode(c)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	// The keys only some settings read hold, in c, their default or a
	// value c's user set. Those at their default are unset, so that the
	// result's defaults apply (ood.outlier_k has none under a family-wise
	// ood.outlier_control).
	userKeys, userValues := userSet(c, root)
	for key := range usages {
		if !slices.Contains(userKeys, key) {
			deleteKey(root, key)
		}
	}
	var set []setting
	for _, s := range settings {
		key, val, ok := strings.Cut(s, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return Config{}, fmt.Errorf("config: setting %q: want key=value, such as filter.inflation=1.05", s)
		}
		t, err := keyType(reflect.TypeFor[Config](), key)
		if err != nil {
			return Config{}, fmt.Errorf("config: setting %s", err)
		}
		var v yaml.Node
		if err := yaml.Unmarshal([]byte(val), &v); err != nil {
			return Config{}, fmt.Errorf("config: setting %s: value %q is not YAML: %w", key, val, err)
		}
		vn := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: ""}
		if len(v.Content) > 0 {
			vn = v.Content[0]
		}
		if err := checkNode(vn, t, key); err != nil {
			// The line is the value's own, always 1.
			return Config{}, fmt.Errorf("config: setting %s", lineRef.ReplaceAllString(err.Error(), ""))
		}
		setKey(root, key, vn)
		set = append(set, setting{key, vn})
	}
	out, err := yaml.Marshal(root)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	// The keys of c are written out with their defaults, used or not, as
	// in a run directory's config.yaml; those of the settings are the
	// user's.
	cfg, err := ParseStored(out)
	if err != nil {
		// Line numbers would point into the YAML written here, not a file.
		msg := lineRef.ReplaceAllString(err.Error(), "")
		return Config{}, fmt.Errorf("config: after %s: %s", strings.Join(settings, " "), msg)
	}
	for _, s := range set {
		if err := unused(s.key, -1, s.value, cfg); err != nil {
			return Config{}, fmt.Errorf("config: setting %w", err)
		}
	}
	if err := orphaned(userKeys, userValues, cfg, set, settings); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// setting is one key=value of [Config.Override], its value parsed.
type setting struct {
	key   string
	value *yaml.Node
}
