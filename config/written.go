package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// "Unset" and "zero" differ: a key left out (or written null) takes its
// documented default, but a key written with the zero value is the user's
// value, and it must be used or rejected, never replaced. The config types
// keep plain fields whose zero value means unset, so the YAML document
// says which keys were written: [Replaced] compares each written key's
// decoded value with the value after the defaults.

// Replaced reports the first key written in the YAML document data whose
// value, as decoded into raw, is a zero that the defaults replaced in
// defaulted (raw with its defaults filled in): model.dt: 0 would silently
// become 0.05. raw and defaulted are values of the same struct type (such
// as a [Config] before and after [Config.WithDefaults]).
func Replaced(data []byte, raw, defaulted any) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return invalidYAML(err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	return replaced(doc.Content[0], reflect.ValueOf(raw), reflect.ValueOf(defaulted), "")
}

// Required is a key that a config must write, and what it takes, as
// "KEY: required WANT".
type Required struct{ Key, Want string }

// Missing reports the first of keys that the YAML document data leaves
// out or writes null, as required: its check would otherwise report the
// zero value nobody wrote ("cycles: must be >= 1, got 0"). A key written
// with a zero value is left to that check.
func Missing(data []byte, keys ...Required) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return invalidYAML(err)
	}
	for _, r := range keys {
		if !written(&doc, r.Key) {
			return fmt.Errorf("%s: required %s", r.Key, r.Want)
		}
	}
	return nil
}

// written reports whether the YAML document doc sets dotted key to a
// value other than null.
func written(doc *yaml.Node, key string) bool {
	if len(doc.Content) == 0 {
		return false
	}
	m, j := findKey(doc.Content[0], key)
	if m == nil {
		return false
	}
	v := m.Content[j+1]
	if v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	return !(v.Kind == yaml.ScalarNode && v.Tag == "!!null")
}

// replaced walks mapping n at key path over the struct values raw and def.
func replaced(n *yaml.Node, raw, def reflect.Value, path string) error {
	for raw.Kind() == reflect.Pointer {
		if raw.IsNil() || def.IsNil() {
			return nil
		}
		raw, def = raw.Elem(), def.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if raw.Kind() != reflect.Struct || raw.Type() == durationType || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		idx := fieldIndex(raw.Type(), k.Value)
		if idx < 0 || (v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
			continue
		}
		rf, df := raw.Field(idx), def.Field(idx)
		key := join(path, k.Value)
		if isMapping(rf.Type()) {
			if err := replaced(v, rf, df, key); err != nil {
				return err
			}
			continue
		}
		if rf.IsZero() && !reflect.DeepEqual(rf.Interface(), df.Interface()) {
			return fmt.Errorf("%s: line %d: %s means unset here, which takes the default %v; leave the key out for the default, or write the value you mean",
				key, k.Line, zeroWord(rf), describeValue(df))
		}
	}
	return nil
}

// isMapping reports whether t (or what it points to) is a config section.
func isMapping(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct && t != durationType
}

// fieldIndex returns the index of the field of struct type t with YAML key
// key, or -1.
func fieldIndex(t reflect.Type, key string) int {
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name == key && f.IsExported() {
			return i
		}
	}
	return -1
}

// zeroWord is how the zero value of v's type reads in YAML.
func zeroWord(v reflect.Value) string {
	switch {
	case v.Type() == durationType:
		return "0s"
	case v.Kind() == reflect.String:
		return `""`
	case v.Kind() == reflect.Slice:
		return "an empty list"
	}
	return "0"
}

// describeValue prints a default for an error message.
func describeValue(v reflect.Value) string {
	if v.Kind() == reflect.String {
		return fmt.Sprintf("%q", v.String())
	}
	return fmt.Sprint(v.Interface())
}

// oneDocument returns the first YAML document of data, or an error if
// data holds more than one: a second document would be silently ignored.
func oneDocument(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty config")
		}
		return nil, invalidYAML(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
		return &doc, nil
	case err != nil:
		return nil, invalidYAML(err)
	}
	line := next.Line
	if len(next.Content) > 0 {
		line = next.Content[0].Line
	}
	return nil, fmt.Errorf("line %d: a second YAML document; a config file holds one document", line)
}
