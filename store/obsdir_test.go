package store

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestObsCSVRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cycle-000001.csv")
	want := Observations{
		Values:    []float64{1.5, -0.1, math.SmallestNonzeroFloat64, math.Copysign(0, -1), 1e300},
		Variances: []float64{0.5, 1, 0.1, math.MaxFloat64, 2},
	}
	if err := WriteObsCSV(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadObsCSV(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want.Values {
		if math.Float64bits(got.Values[i]) != math.Float64bits(want.Values[i]) || got.Variances[i] != want.Variances[i] {
			t.Errorf("row %d: got %v %v, want %v %v", i, got.Values[i], got.Variances[i], want.Values[i], want.Variances[i])
		}
	}
	if got.Positions != nil || got.Flagged != nil {
		t.Errorf("CSV gave positions or flags: %+v", got)
	}
	empty := filepath.Join(t.TempDir(), "e.csv")
	if err := WriteObsCSV(empty, Observations{}); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadObsCSV(empty); err != nil || got.Len() != 0 {
		t.Errorf("header only: %+v, %v", got, err)
	}
}

func TestWriteObsCSVRejects(t *testing.T) {
	for _, c := range []struct {
		name string
		obs  Observations
		want string
	}{
		{"lengths", Observations{Values: []float64{1, 2}, Variances: []float64{1}}, "2 values but 1 variances"},
		{"inf value", Observations{Values: []float64{1, math.Inf(1)}, Variances: []float64{1, 1}}, `row 1: column "value": +Inf is not finite`},
		{"zero variance", Observations{Values: []float64{1}, Variances: []float64{0}}, `row 0: column "variance": 0 is not a finite number > 0`},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.csv")
			err := WriteObsCSV(path, c.obs)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want one naming %s and containing %q", err, path, c.want)
			}
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a rejected write left %s", path)
			}
		})
	}
}

func TestReadObsCSVMalformed(t *testing.T) {
	for _, c := range []struct {
		name, data, want string
	}{
		{"empty", "", "empty file"},
		{"truncated", "index,value,variance\n0,1.5,1\n1,2.", "does not end with a newline (truncated file?)"},
		{"bad header", "index,value,error_std\n0,1,1\n", `line 1: header is "index,value,error_std", want "index,value,variance"`},
		{"header only, no newline", "index,value,variance", "does not end with a newline"},
		{"too few fields", "index,value,variance\n0,1\n", "line 2: 2 fields, want 3"},
		{"too many fields", "index,value,variance\n0,1,1,1\n", "line 2: 4 fields, want 3"},
		{"index out of order", "index,value,variance\n0,1,1\n2,1,1\n", `line 3: column "index": "2", want 1`},
		{"index not a number", "index,value,variance\nx,1,1\n", `line 2: column "index": "x", want 0`},
		{"value not a number", "index,value,variance\n0,1e,1\n", `line 2: column "value": "1e" is not a number`},
		{"value NaN", "index,value,variance\n0,NaN,1\n", `line 2: column "value": NaN is not finite`},
		{"value Inf", "index,value,variance\n0,-Inf,1\n", `line 2: column "value": -Inf is not finite`},
		{"value overflows", "index,value,variance\n0,1e400,1\n", `line 2: column "value": "1e400" is not a number`},
		{"zero variance", "index,value,variance\n0,1,0\n", `line 2: column "variance": 0 is not a finite number > 0`},
		{"negative variance", "index,value,variance\n0,1,-2\n", `line 2: column "variance": -2 is not a finite number > 0`},
		{"NaN variance", "index,value,variance\n0,1,nan\n", `line 2: column "variance": NaN is not a finite number > 0`},
		{"blank line", "index,value,variance\n0,1,1\n\n", "line 3: 1 fields, want 3"},
		{"spaces", "index,value,variance\n0, 1,1\n", `line 2: column "value": " 1" is not a number`},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cycle-000007.csv")
			if err := os.WriteFile(path, []byte(c.data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadObsCSV(path)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "store: read "+path+": ") {
				t.Errorf("error %q, want one naming the file and containing %q", err, c.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
		})
	}
	if _, err := ReadObsCSV(filepath.Join(t.TempDir(), "missing.csv")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestObsDirFind(t *testing.T) {
	d := ObsDir{Root: t.TempDir()}
	if p := d.Path(12, "csv"); filepath.Base(p) != "cycle-000012.csv" {
		t.Errorf("Path = %s", p)
	}
	if p, err := d.Find(3); p != "" || err != nil {
		t.Errorf("empty directory: %q, %v", p, err)
	}
	// Temporary files of atomic writes are not observations.
	if err := os.WriteFile(filepath.Join(d.Root, ".cycle-000003.csv.tmp-0123456789abcdef"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err := d.Find(3); p != "" || err != nil {
		t.Errorf("only a temporary file: %q, %v", p, err)
	}
	obs := Observations{Values: []float64{1}, Variances: []float64{1}, Positions: []float64{0}}
	if err := WriteObsCSV(d.Path(3, "csv"), obs); err != nil {
		t.Fatal(err)
	}
	if p, err := d.Find(3); p != d.Path(3, "csv") || err != nil {
		t.Errorf("CSV: %q, %v", p, err)
	}
	if err := WriteObservations(d.Path(3, "arrow"), obs, Meta{Cycle: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Find(3); err == nil || !strings.Contains(err.Error(), "keep one file per cycle") {
		t.Errorf("both formats: %v", err)
	}
	if err := os.Mkdir(d.Path(4, "arrow"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Find(4); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory under a file name: %v", err)
	}
}

// FuzzReadObsCSV checks that the CSV reader never panics, classifies every
// error, and that whatever it accepts writes back to a file it reads the
// same.
func FuzzReadObsCSV(f *testing.F) {
	f.Add([]byte("index,value,variance\n0,1.5,0.5\n1,-2,1\n"))
	f.Add([]byte("index,value,variance\r\n0,1.5,0.5\r\n"))
	f.Add([]byte("index,value,variance\n"))
	f.Add([]byte("index,value,variance\n0,NaN,1\n"))
	f.Add([]byte("index,value,variance\n0,1,1"))
	f.Add([]byte(""))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "in.csv")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		obs, err := ReadObsCSV(path)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		out := filepath.Join(dir, "out.csv")
		if err := WriteObsCSV(out, obs); err != nil {
			t.Fatalf("accepted file does not write back: %v", err)
		}
		back, err := ReadObsCSV(out)
		if err != nil {
			t.Fatalf("written file does not read back: %v", err)
		}
		for i := range obs.Values {
			if math.Float64bits(back.Values[i]) != math.Float64bits(obs.Values[i]) || back.Variances[i] != obs.Variances[i] {
				t.Fatalf("row %d changed: %v %v -> %v %v", i, obs.Values[i], obs.Variances[i], back.Values[i], back.Variances[i])
			}
		}
	})
}
