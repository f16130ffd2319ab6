package config

import (
	"errors"
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
