package store

import (
	"errors"
	"maps"
	"os"
	"strings"
	"testing"
)

const digestA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// TestGenerators: a run's digests round-trip through generators.json; a
// run without the file reads as nil; the file is written once.
func TestGenerators(t *testing.T) {
	d := RunDir{Root: t.TempDir()}
	if got, err := ReadGenerators(d); err != nil || got != nil {
		t.Fatalf("no file: %v, %v", got, err)
	}
	if err := WriteGenerators(d, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.Generators()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a run without generators wrote %s: %v", d.Generators(), err)
	}
	want := map[string]string{"latent.generator": digestA, "ood.generator": strings.Repeat("0", 64)}
	if err := WriteGenerators(d, want); err != nil {
		t.Fatal(err)
	}
	if err := WriteGenerators(d, map[string]string{"latent.generator": strings.Repeat("1", 64)}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadGenerators(d)
	if err != nil || !maps.Equal(got, want) {
		t.Errorf("read back %v, %v; want the first write, %v", got, err, want)
	}
	if err := WriteGenerators(d, map[string]string{"model.generator": digestA}); err == nil {
		t.Error("an unknown key was written")
	}
}

// TestParseGeneratorsMalformed: everything but an object of the known keys
// to SHA-256 digests in lowercase hex is ErrInvalid.
func TestParseGeneratorsMalformed(t *testing.T) {
	for _, c := range []struct{ name, data, want string }{
		{"empty", "", "EOF"},
		{"not JSON", "latent.generator " + digestA, "invalid character"},
		{"null", "null", "null, want an object"},
		{"a list", `["` + digestA + `"]`, "cannot unmarshal array"},
		{"a number value", `{"latent.generator": 1}`, "cannot unmarshal number"},
		{"an unknown key", `{"latent.generatr": "` + digestA + `"}`, `key "latent.generatr"`},
		{"too short", `{"latent.generator": "` + digestA[:63] + `"}`, "is not a SHA-256 digest"},
		{"upper case", `{"latent.generator": "` + strings.ToUpper(digestA) + `"}`, "is not a SHA-256 digest"},
		{"not hex", `{"latent.generator": "` + strings.Repeat("g", 64) + `"}`, "is not a SHA-256 digest"},
		{"two objects", `{} {}`, "data after the object"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseGenerators([]byte(c.data))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want ErrInvalid saying %q", err, c.want)
			}
		})
	}
	if got, err := parseGenerators([]byte("{}")); err != nil || len(got) != 0 {
		t.Errorf("an empty object: %v, %v", got, err)
	}
}

// FuzzParseGenerators: the parser never panics, refuses with ErrInvalid,
// and what it accepts encodes and parses back the same.
func FuzzParseGenerators(f *testing.F) {
	f.Add([]byte(`{"latent.generator": "` + digestA + `"}`))
	f.Add([]byte(`{"ood.generator": "` + digestA + `", "latent.generator": "` + digestA + `"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseGenerators(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		enc, err := encodeGenerators(got)
		if err != nil {
			t.Fatalf("accepted %v, but it does not encode: %v", got, err)
		}
		back, err := parseGenerators(enc)
		if err != nil || !maps.Equal(back, got) {
			t.Fatalf("encoded %v reads back %v, %v", got, back, err)
		}
	})
}
