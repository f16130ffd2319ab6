package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/latentda/latentda/store/internal/arrowfile"
)

// ObsDir is a directory of incoming observations for a live (scheduled)
// run, one file per cycle, in either format:
//
//	<Root>/cycle-000012.arrow   an observations file (WriteObservations)
//	<Root>/cycle-000012.csv     CSV: header "index,value,variance"
//
// A producer must write each file under a temporary name in the same
// directory and rename it into place (names starting with "." are never
// read), so that a file under its final name is complete.
type ObsDir struct {
	Root string
}

// ObsFormats are the file formats of an observation directory.
var ObsFormats = []string{"arrow", "csv"}

// Path is the file of cycle k in format ("arrow" or "csv").
func (d ObsDir) Path(k int, format string) string {
	return filepath.Join(d.Root, fmt.Sprintf("cycle-%06d.%s", k, format))
}

// Find returns the file holding cycle k's observations, or "" if there is
// none yet. Both an Arrow and a CSV file for the same cycle is an error.
func (d ObsDir) Find(k int) (string, error) {
	found := ""
	for _, f := range ObsFormats {
		p := d.Path(k, f)
		ok, err := Exists(p)
		if err != nil {
			return "", err
		}
		if !ok {
			continue
		}
		if found != "" {
			return "", &arrowfile.FileError{Op: "read", Path: p, Err: fmt.Errorf("cycle %d also has %s: keep one file per cycle", k, filepath.Base(found))}
		}
		found = p
	}
	return found, nil
}

// csvHeader is the first line of an observation CSV file.
const csvHeader = "index,value,variance"

// WriteObsCSV writes obs.Values and obs.Variances to path as CSV,
// atomically: the header "index,value,variance", then one line per
// observation "i,y_i,r_i" in the order of y, numbers in the shortest form
// that parses back to the same float64, each line ending in "\n".
func WriteObsCSV(path string, obs Observations) error {
	if err := checkValuesVariances(obs.Values, obs.Variances); err != nil {
		return arrowfile.WriteErr(path, err)
	}
	var b bytes.Buffer
	b.WriteString(csvHeader + "\n")
	for i, v := range obs.Values {
		fmt.Fprintf(&b, "%d,%s,%s\n", i, arrowfile.FormatFloat(v), arrowfile.FormatFloat(obs.Variances[i]))
	}
	return WriteFileAtomic(path, b.Bytes())
}

// ReadObsCSV reads a file written by WriteObsCSV (or by hand in that
// format). It checks the header, that the file ends with a newline (so a
// truncated file is not read as a shorter one), that "index" counts
// 0, 1, 2, ..., that values are finite and variances finite and > 0.
// Errors name the file, line and column and match ErrInvalid. Positions,
// Flagged and Reasons are nil.
func ReadObsCSV(path string) (Observations, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Observations{}, arrowfile.ReadErr(path, err)
	}
	obs, err := parseObsCSV(data)
	if err != nil {
		return Observations{}, arrowfile.ReadErr(path, err)
	}
	return obs, nil
}

func parseObsCSV(data []byte) (Observations, error) {
	var obs Observations
	if len(data) == 0 {
		return obs, arrowfile.Invalidf("empty file (want the header %q)", csvHeader)
	}
	if data[len(data)-1] != '\n' {
		return obs, arrowfile.Invalidf("does not end with a newline (truncated file?)")
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if h := strings.TrimSuffix(lines[0], "\r"); h != csvHeader {
		return obs, arrowfile.Invalidf("line 1: header is %.80q, want %q", h, csvHeader)
	}
	for n, line := range lines[1:] {
		lineNo := n + 2
		fields := strings.Split(strings.TrimSuffix(line, "\r"), ",")
		if len(fields) != 3 {
			return obs, arrowfile.Invalidf("line %d: %d fields, want 3 (index,value,variance)", lineNo, len(fields))
		}
		idx, err := strconv.Atoi(fields[0])
		if err != nil || idx != n {
			return obs, arrowfile.Invalidf("line %d: column \"index\": %.40q, want %d (rows in order from 0)", lineNo, fields[0], n)
		}
		var v [2]float64
		for j, name := range []string{"value", "variance"} {
			x, err := strconv.ParseFloat(fields[1+j], 64)
			if err != nil {
				return obs, arrowfile.Invalidf("line %d: column %q: %.40q is not a number", lineNo, name, fields[1+j])
			}
			v[j] = x
		}
		if err := checkValueVariance(v[0], v[1]); err != nil {
			return obs, arrowfile.Invalidf("line %d: %v", lineNo, err)
		}
		obs.Values = append(obs.Values, v[0])
		obs.Variances = append(obs.Variances, v[1])
	}
	return obs, nil
}

func checkValuesVariances(values, variances []float64) error {
	if len(values) != len(variances) {
		return fmt.Errorf("%d values but %d variances", len(values), len(variances))
	}
	for i, v := range values {
		if err := checkValueVariance(v, variances[i]); err != nil {
			return fmt.Errorf("row %d: %w", i, err)
		}
	}
	return nil
}

func checkValueVariance(v, r float64) error {
	if !arrowfile.Finite(v) {
		return fmt.Errorf("column \"value\": %v is not finite", v)
	}
	if !arrowfile.Finite(r) || !(r > 0) {
		return fmt.Errorf("column \"variance\": %v is not a finite number > 0", r)
	}
	return nil
}
