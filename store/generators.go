package store

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// Generators is the file that keeps the SHA-256 digests of the generator
// files a run started with (WriteGenerators), so that each batch can check
// it still reads the same bytes.
func (d RunDir) Generators() string { return filepath.Join(d.Root, "generators.json") }

// generatorKeys are the config keys that name a generator file, the keys
// of a generators.json.
var generatorKeys = []string{"latent.generator", "ood.generator"}

// encodeGenerators returns the generators.json of digests (config key →
// SHA-256 in hex, as sha256sum prints it): a JSON object, its keys sorted.
func encodeGenerators(digests map[string]string) ([]byte, error) {
	if err := checkGenerators(digests); err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(digests, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// parseGenerators reads a generators.json. Anything but an object of
// generatorKeys to 64 lowercase hex digits is ErrInvalid.
func parseGenerators(data []byte) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var digests map[string]string
	if err := dec.Decode(&digests); err != nil {
		return nil, fmt.Errorf("%w: generators.json: %v", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: generators.json: data after the object", ErrInvalid)
	}
	if digests == nil {
		return nil, fmt.Errorf("%w: generators.json: null, want an object", ErrInvalid)
	}
	if err := checkGenerators(digests); err != nil {
		return nil, fmt.Errorf("%w: generators.json: %v", ErrInvalid, err)
	}
	return digests, nil
}

// checkGenerators refuses an unknown key or a value that is not a SHA-256
// digest in lowercase hex.
func checkGenerators(digests map[string]string) error {
	for k, v := range digests {
		if !slices.Contains(generatorKeys, k) {
			return fmt.Errorf("key %q, want one of %q", k, generatorKeys)
		}
		if b, err := hex.DecodeString(v); err != nil || len(b) != 32 || hex.EncodeToString(b) != v {
			return fmt.Errorf("%s: %q is not a SHA-256 digest in lowercase hex", k, v)
		}
	}
	return nil
}

// ReadGenerators returns the digests of the run's generators.json, or nil
// for a run without one (a run without generator files, or one started
// before the file existed).
func ReadGenerators(d RunDir) (map[string]string, error) {
	data, err := os.ReadFile(d.Generators())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	digests, err := parseGenerators(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.Generators(), err)
	}
	return digests, nil
}

// WriteGenerators writes the run's generators.json unless it exists (of
// runs racing for the directory one writes it; CreateFileOnce). Nothing is
// written for a run without generator files.
func WriteGenerators(d RunDir, digests map[string]string) error {
	if len(digests) == 0 {
		return nil
	}
	data, err := encodeGenerators(digests)
	if err != nil {
		return err
	}
	_, err = CreateFileOnce(d.Generators(), data)
	return err
}
