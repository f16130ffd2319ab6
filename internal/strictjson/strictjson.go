// Package strictjson reads the JSON files the benchmarks write and read
// back (--compare, --tuning-from, --merge, --from): a key the type does
// not have, or anything after the value, is an error rather than ignored.
package strictjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Decode reads one JSON value from r into v, refusing unknown keys and
// data after the value.
func Decode(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// DecodeFile is [Decode] from the file at path; its errors name the file.
func DecodeFile(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := Decode(f, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
