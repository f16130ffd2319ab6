package config

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestConfine(t *testing.T) {
	const state = "/srv/state"
	allow := []string{"/data/generators"}
	for _, tc := range []struct {
		name, latent, ood string
		want              string // the resolved latent.generator, or the error
		wantOOD           string
	}{
		{"relative", "generators/g.arrow", "", "/srv/state/generators/g.arrow", ""},
		{"identity stays", "identity", "latent", "identity", "latent"},
		{"absolute inside", "/srv/state/generators/g.arrow", "", "/srv/state/generators/g.arrow", ""},
		{"absolute in an allowed directory", "/data/generators/g.arrow", "/data/generators/o.arrow", "/data/generators/g.arrow", "/data/generators/o.arrow"},
		{"climbing out", "../../../etc/passwd", "", "latent.generator: ../../../etc/passwd is outside the state directory /srv/state; put the file under it", ""},
		{"climbing out midway", "generators/../../x.arrow", "", "latent.generator: generators/../../x.arrow is outside", ""},
		{"absolute elsewhere", "/etc/passwd", "", "latent.generator: /etc/passwd is outside", ""},
		{"another state directory", "/srv/state2/generators/g.arrow", "", "latent.generator: /srv/state2/generators/g.arrow is outside", ""},
		{"absolute climbing out", "/srv/state/../other/g.arrow", "", "latent.generator: /srv/state/../other/g.arrow is outside", ""},
		{"ood generator elsewhere", "identity", "/abs/path/into/another/state", "ood.generator: /abs/path/into/another/state is outside the state directory /srv/state; put the file under it (such as generators/NAME.arrow) or allow its directory with --allow-path DIR", ""},
		{"NUL byte", "gen\x00.arrow", "", "latent.generator: gen\x00.arrow is outside", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Latent: &LatentConfig{Generator: tc.latent}}
			if tc.ood != "" {
				c.OOD = &OODConfig{Generator: tc.ood}
			}
			got, err := c.Confine(state, allow)
			if strings.Contains(tc.want, " is outside") {
				var pe *PathError
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Latent.Generator != tc.want || (tc.ood != "" && got.OOD.Generator != tc.wantOOD) {
				t.Errorf("got %q, %+v; want %q, %q", got.Latent.Generator, got.OOD, tc.want, tc.wantOOD)
			}
			if c.Latent.Generator != tc.latent {
				t.Error("Confine changed its receiver's section")
			}
		})
	}
}

func TestConfineProgram(t *testing.T) {
	const state = "/srv/state"
	allow := []string{"/data/models"}
	cwd := t.TempDir()
	t.Chdir(cwd)
	for _, tc := range []struct {
		name, prog, workdir string
		state               string // "" means state
		want                string // "" or the error
	}{
		{"a name on PATH", "python3", "", "", ""},
		{"a name with a workdir elsewhere", "node", "/opt", "", ""},
		{"absolute inside", "/srv/state/bin/model", "", "", ""},
		{"absolute in an allowed directory", "/data/models/l96/model", "", "", ""},
		{"absolute elsewhere", "/usr/bin/python3", "", "", "model.command: /usr/bin/python3 (/usr/bin/python3) is outside the state directory /srv/state; put the program under it or allow its directory with --allow-path DIR (a program name without a separator, such as python3, is looked up on PATH)"},
		{"absolute climbing out", "/srv/state/../bin/model", "", "", "(/srv/bin/model) is outside"},
		{"relative to a workdir inside", "./model", "/srv/state/models", "", ""},
		{"relative to a workdir elsewhere", "./model", "/opt/models", "", "model.command: ./model (/opt/models/model) is outside"},
		{"climbing out of the workdir", "../../model", "/srv/state/models", "", "(/srv/model) is outside"},
		{"relative to the working directory, inside", "./bin/model", "", cwd, ""},
		{"relative to the working directory, outside", "./model", "", filepath.Join(cwd, "state"), "model.command: ./model (" + filepath.Join(cwd, "model") + ") is outside"},
		{"a relative workdir", "bin/model", "state", filepath.Join(cwd, "state"), ""},
		{"NUL byte", "/srv/state/m\x00", "", "", "is outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.state
			if st == "" {
				st = state
			}
			c := Config{Model: ModelConfig{Name: "external", Command: []string{tc.prog, "--grid", "/etc/passwd"}, Workdir: tc.workdir}}
			got, err := c.Confine(st, allow)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got.Model.Command, c.Model.Command) {
					t.Errorf("command %q changed to %q", c.Model.Command, got.Model.Command)
				}
				return
			}
			var pe *PathError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	// Built-in models have no program.
	if err := ConfineProgram(ModelConfig{Name: "lorenz96"}, state, nil); err != nil {
		t.Errorf("lorenz96: %v", err)
	}
}
