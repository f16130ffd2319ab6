package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latentda/latentda/store"
)

// The bad-input suite runs the CLI (this test binary re-executed as
// latentda, see TestMain) in a temporary directory on configs, flags,
// paths and corrupted or swapped files a hostile but realistic user might
// give it, and requires of each: a non-zero exit, one error line
// ("latentda: ...") that names the field, flag or file, no panic or stack
// trace, and nothing written outside the state directory.

// goodL63 is a small valid config; the cases edit it.
const goodL63 = `name: l63
seed: 3
cycles: 6
model: {name: lorenz63}
observations: {operator: identity, variance: 2, steps_between: 5}
filter: {method: etkf, members: 6, inflation: 1.02}
`

// badCase is one bad input: files to write into the working directory
// (name → content), a function that damages the finished run "good" of a
// copy of the fixture state, the arguments, and what the error names.
type badCase struct {
	name   string
	files  map[string]string
	damage func(t *testing.T, run store.RunDir)
	args   []string
	want   string
	status int // the exit status, if it matters (else any but 0)
}

func with(old, new string) string { return strings.Replace(goodL63, old, new, 1) }

// withStatus is c expecting exit status n: 1 for a config's problem, 2
// for how the command was called.
func withStatus(n int, c badCase) badCase { c.status = n; return c }

// ext is a config of an external model with the given command (and what
// follows it in the model's mapping).
func ext(command string) string {
	return "name: ext\ncycles: 2\nmodel: {name: external, command: " + command + ", state_size: 3, dt: 0.01}\nfilter: {method: etkf, members: 4}\n"
}

func badCases() []badCase {
	cfg := func(name, yaml, want string) badCase {
		return badCase{name: "config/" + name, files: map[string]string{"c.yaml": yaml},
			args: []string{"run", "--in-process", "-c", "c.yaml", "--state-dir", "state"}, want: want}
	}
	flags := func(name, want string, args ...string) badCase {
		return badCase{name: "flags/" + name, files: map[string]string{"c.yaml": goodL63}, args: args, want: want}
	}
	run := func(extra ...string) []string {
		return append([]string{"run", "--in-process", "-c", "c.yaml", "--state-dir", "state"}, extra...)
	}
	damaged := func(name string, damage func(t *testing.T, run store.RunDir), want string, args ...string) badCase {
		return badCase{name: "files/" + name, damage: damage, args: args, want: want}
	}
	rerun := func(extra ...string) []string {
		return append([]string{"rerun", "good", "--in-process", "--state-dir", "state"}, extra...)
	}
	big := goodL63 + "# " + strings.Repeat("x", 2<<20) + "\n"
	long := "[" + strings.Repeat("0,", 100_000) + "0]"
	return []badCase{
		// Configs.
		cfg("not YAML", "{{{", "invalid YAML"),
		cfg("empty", "", "empty config"),
		cfg("only a comment", "# nothing\n", "empty config"),
		cfg("binary", "\x00\x01\x02\xff\xfe", "c.yaml"),
		cfg("unknown key", goodL63+"colour: red\n", "colour: line 7: unknown key"),
		cfg("misspelt nested key", with("variance: 2", "varaince: 2"), "observations.varaince: line 5: unknown key"),
		cfg("wrong type", with("cycles: 6", "cycles: many"), "cycles: line 3: want an integer, got many"),
		cfg("float for an integer", with("cycles: 6", "cycles: 6.5"), "cycles: line 3: want an integer"),
		cfg("a list for a section", with("filter: {", "filter: [1]\nx: {"), "filter: line 6: want a mapping"),
		cfg("second document", goodL63+"---\nname: other\n", "a second YAML document"),
		cfg("observations.variance 0", with("variance: 2", "variance: 0"), "observations.variance: line 5: 0 means unset"),
		cfg("model.dt 0", with("name: lorenz63}", "name: lorenz63, dt: 0}"), "model.dt: line 4: 0 means unset"),
		cfg("seed 0", with("seed: 3", "seed: 0"), "seed: line 2: 0 means unset"),
		cfg("steps_between 0", with("steps_between: 5", "steps_between: 0"), "observations.steps_between: line 5: 0 means unset"),
		cfg("init.variance 0", goodL63+"init: {variance: 0}\n", "init.variance: line 7: 0 means unset"),
		cfg("nx 10^12", "name: big\ncycles: 5\nmodel: {name: lorenz96, nx: 1000000000000}\nfilter: {method: etkf, members: 20}\n", "model.nx × filter.members: 1000000000000 variables × 20 members need about"),
		cfg("nx 10^8", "name: big\ncycles: 5\nmodel: {name: lorenz96, nx: 100000000}\nfilter: {method: etkf, members: 20}\n", "--max-memory"),
		cfg("cycles 10^12", with("cycles: 6", "cycles: 1000000000000"), "cycles: 1000000000000 cycles of 3 variables × 6 members need about"),
		cfg("steps_between 10^9", "name: l96\ncycles: 20\nmodel: {name: lorenz96}\nobservations: {steps_between: 1000000000}\nfilter: {method: etkf, members: 20}\n", "cycles × observations.steps_between: 20 cycles of 1000000000 model steps"),
		cfg("file over 1 MiB", big, "c.yaml: larger than 1MiB"),
		cfg("list over 100000 entries", with("operator: identity", "operator: subset, indices: "+long), "observations.indices: line 5: 100001 entries"),
		cfg("no name", with("name: l63", "name: ''"), "name: required"),
		cfg("zero cycles", with("cycles: 6", "cycles: 0"), "cycles: must be >= 1, got 0"),
		cfg("negative cycles", with("cycles: 6", "cycles: -4"), "cycles: must be >= 1"),
		cfg("one member", with("members: 6", "members: 1"), "filter.members: need at least 2"),
		cfg("huge ensemble", with("members: 6", "members: 100000"), "filter.members: at most 10000"),
		cfg("unknown model", with("name: lorenz63}", "name: lorenz84}"), `model.name: unknown model "lorenz84"`),
		cfg("lorenz63 with nx", with("name: lorenz63}", "name: lorenz63, nx: 40}"), "model.nx: lorenz63 has 3 variables"),
		cfg("unknown operator", with("operator: identity", "operator: every-q"), `observations.operator: unknown operator "every-q"`),
		cfg("unknown method", with("method: etkf", "method: 4dvar"), `filter.method: unknown method "4dvar"`),
		cfg("inflation 0", with("inflation: 1.02", "inflation: 0"), "filter.inflation: line 6"),
		cfg("NaN inflation", with("inflation: 1.02", "inflation: .nan"), "filter.inflation"),
		cfg("negative noise", with("name: lorenz63}", "name: lorenz63, noise: -1}"), "model.noise"),
		cfg("infinite burn-in", goodL63+"burn_in: .inf\n", "burn_in: must be a finite time"),
		cfg("burn-in leaves no cycles", goodL63+"burn_in: 100\n", "burn_in: 100 time units"),
		cfg("fan-out over the members", goodL63+"orchestration: {fanout: {members_per_task: 7}}\n", "orchestration.fanout.members_per_task: must be 1..6"),
		cfg("unknown activity kind", goodL63+"orchestration: {activity: remote}\n", `orchestration.activity: want local or regular, got "remote"`),
		cfg("generator climbing out", goodL63+"latent: {generator: ../../../etc/passwd}\n", "latent.generator: ../../../etc/passwd is outside the state directory"),
		cfg("generator in another state directory", goodL63+"latent: {generator: /abs/path/into/another/state/g.arrow}\n", "latent.generator: /abs/path/into/another/state/g.arrow is outside"),
		cfg("ood generator elsewhere", goodL63+"ood: {generator: /etc/passwd}\n", "ood.generator: /etc/passwd is outside"),
		withStatus(1, cfg("generator not trained yet", goodL63+"latent: {generator: generators/none.arrow}\n", "latent.generator: no file at ")),
		withStatus(1, cfg("ood generator not trained yet", goodL63+"ood: {generator: generators/none.arrow}\n", "ood.generator: no file at ")),
		cfg("name unfit for a run ID", with("name: l63", "name: my run"), `config: c.yaml: name "my run" cannot start a run ID`),
		{name: "config/missing file", args: []string{"run", "--in-process", "-c", "nope.yaml", "--state-dir", "state"}, want: "nope.yaml: no such file"},
		{name: "config/a directory", files: map[string]string{"d/x": ""}, args: []string{"run", "--in-process", "-c", "d", "--state-dir", "state"}, want: "d: is a directory"},
		cfg("moved key", with("inflation: 1.02", "inflation: 1.02, blocks: 2"), "filter.blocks: line 6: moved to orchestration.blocks"),
		cfg("external program elsewhere", ext("[/usr/bin/env, node, model.mjs]"), "model.command: /usr/bin/env (/usr/bin/env) is outside the state directory"),
		cfg("external program climbing out", ext("[../../model]"), "model.command: ../../model ("),
		cfg("external program in another workdir", ext("[./model], workdir: /opt/models"), "model.command: ./model (/opt/models/model) is outside the state directory"),

		// Flags.
		flags("run ID with a space", "--run-id \"a b\" must be a plain name", run("--run-id", "a b")...),
		flags("run ID with non-ASCII letters", `--run-id "naïve" must be a plain name`, run("--run-id", "naïve")...),
		flags("run ID with a leading dash", `--run-id "-x" must be a plain name`, run("--run-id=-x")...),
		flags("run ID of 10000 characters", `--run-id "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…" must be a plain name`, run("--run-id", strings.Repeat("x", 10000))...),
		flags("run ID that is a path", `--run-id "../x" must be a plain name`, run("--run-id", "../x")...),
		flags("empty state directory", "--state-dir: empty", "run", "--in-process", "-c", "c.yaml", "--state-dir", ""),
		flags("no config", "--config is required", "run", "--in-process", "--state-dir", "state"),
		flags("batch cycles 0", "--batch-cycles must be >= 1", run("--batch-cycles", "0")...),
		flags("unknown activity", "--activity must be local or regular", run("--activity", "remote")...),
		flags("unknown output", "--output must be text or json", run("-o", "yaml")...),
		flags("bad --max-memory", `invalid argument "lots" for "--max-memory"`, run("--max-memory", "lots")...),
		flags("negative --max-disk", `invalid argument "-1GiB" for "--max-disk"`, run("--max-disk=-1GiB")...),
		flags("bad --max-time", `invalid argument "soon" for "--max-time"`, run("--max-time", "soon")...),
		flags("dev with a bad port", "--port must be 0..65535 (0: 7233, or a free port when busy), got -5", "dev", "--port", "-5", "--state-dir", "fresh"),
		flags("dev with a bad UI port", "--ui-port must be -1..65535", "dev", "--ui-port", "70000", "--state-dir", "fresh"),
		flags("negative --max-time", "--max-time must be >= 0 (0: no limit), got -1s", run("--max-time", "-1s")...),
		flags("--max-memory below a byte", `want a size such as 8GiB, 500MB or 0 (no limit), of at least one byte, got "0.5"`, run("--max-memory", "0.5")...),
		flags("unknown log format", "--log-format must be text or json", run("--log-format", "xml")...),
		flags("unknown flag", "unknown flag: --colour", run("--colour")...),
		flags("in-process with --address", "--in-process runs without Temporal, so --address cannot apply", run("--address", "localhost:7233")...),
		flags("in-process with --no-worker", "--in-process runs without Temporal, so --no-worker cannot apply", run("--no-worker")...),
		flags("in-process with --activity regular", "--activity regular cannot apply", run("--activity", "regular")...),
		flags("in-process with --tls", "--in-process runs without Temporal, so --tls cannot apply", run("--tls")...),
		flags("in-process with --metrics-addr", "--metrics-addr cannot apply", run("--metrics-addr", ":0")...),
		flags("allow-path empty", "--allow-path: empty", run("--allow-path", "")...),
		flags("report of a bad run ID", `run "a b" must be a plain name`, "report", "a b", "--state-dir", "state"),
		flags("report of a missing run", `run "nope": no run directory`, "report", "nope", "--state-dir", "state"),
		damaged("report of a run directory without its config", func(t *testing.T, run store.RunDir) {
			if err := os.Remove(run.Config()); err != nil {
				t.Fatal(err)
			}
		}, "runs/good is not a run directory: it has no config.yaml", "report", "good", "--state-dir", "state"),
		damaged("rerun of a run directory without its config", func(t *testing.T, run store.RunDir) {
			if err := os.Remove(run.Config()); err != nil {
				t.Fatal(err)
			}
		}, "runs/good is not a run directory", rerun("--from-cycle", "1")...),
		damaged("compare with a run directory without its config", func(t *testing.T, run store.RunDir) {
			if err := os.Remove(run.Config()); err != nil {
				t.Fatal(err)
			}
		}, "runs/good is not a run directory", "compare", "good", "good", "--state-dir", "state"),
		flags("compare with a path", `run "../b" must be a plain name`, "compare", "a", "../b", "--state-dir", "state"),
		flags("compare a run that does not exist", `run "nosuch": no run directory`, "compare", "nosuch", "b", "--state-dir", "state"),
		flags("status of a bad run ID", `run "-x" must be a plain name`, "status", "--", "-x"),
		flags("signal to a bad run ID", `run "a/b" must be a plain name`, "signal", "a/b", "stop"),
		flags("schedule with a bad ID", `schedule ID "a b" must be a plain name`, "schedule", "create", "a b", "-c", "c.yaml", "--obs-dir", "obs", "--interval", "10s", "--state-dir", "state"),
		flags("schedule describe with a bad ID", `schedule ID ".." must be a plain name`, "schedule", "describe", ".."),
		flags("rerun without --from-cycle", "--from-cycle K (>= 0) is required", "rerun", "good", "--state-dir", "state"),
		{name: "files/another config under a finished run's ID", files: map[string]string{"c.yaml": with("members: 6", "members: 8")},
			args: run("--run-id", "good"), want: "holds a different config; choose another run ID"},
		flags("rerun of a missing run", `rerun: run "nope": no run directory`, "rerun", "nope", "--from-cycle", "1", "--in-process", "--state-dir", "state"),
		flags("report of a directory that is not a run's", "state is not a run directory: it has no config.yaml", "report", "state"),
		flags("status without a server", "connect to Temporal at 127.0.0.1:1 (is the server running, and --address right?)", "status", "r1"),
		flags("runs list at no address", `--address "not an address": want host:port`, "runs", "list", "--address", "not an address"),
		flags("runs at no address", `--address "not an address": want host:port`, "runs", "--address", "not an address"),
		flags("runs without a server", "connect to Temporal at 127.0.0.1:1 (is the server running, and --address right?)", "runs"),
		flags("replay of a workflow ID with a control character", `--workflow-id "a\nb": want printable UTF-8`, "replay", "--workflow-id", "a\nb"),
		flags("replay of a workflow ID too long", `want printable UTF-8 of at most 1000 bytes`, "replay", "--workflow-id", strings.Repeat("x", 1001)),
		flags("bench dapper --local-letkf without adaptive", "--local-letkf: with --inflation adaptive", "bench", "dapper", "--local-letkf"),
		flags("bench generators, unknown kind", `bench generators: unknown generator "vae" (want one of pca, quadratic, autoencoder, conv)`, "bench", "generators", "--generator", "vae", "--json", "state/g.json", "--report", "state/g.md"),
		flags("bench generators, d 0", "bench generators: dimensions must be >= 1, got 0", "bench", "generators", "--d", "0", "--json", "state/g.json", "--report", "state/g.md"),
		flags("bench latent with 0 seeds", "--seeds, --tune-seeds, --first-seed and --parallel must be >= 1, got 0, 5, 1, 4", "bench", "latent", "--seeds", "0", "--json", "state/r.json", "--report", "state/r.md"),
		flags("bench latent --first-seed 0", "--seeds, --tune-seeds, --first-seed and --parallel must be >= 1, got 5, 5, 0, 4", "bench", "latent", "--first-seed", "0", "--json", "state/r.json", "--report", "state/r.md"),
		flags("bench latent evaluation seeds on the tuning seeds", "bench latent: evaluation seed 101 is also a tuning seed (101..105), a confirmation seed or the archive's (1001)", "bench", "latent", "--first-seed", "99", "--json", "state/r.json", "--report", "state/r.md"),
		flags("bench latent evaluation seeds on the archive's", "bench latent: evaluation seed 1001 is also a tuning seed (101..105), a confirmation seed or the archive's (1001)", "bench", "latent", "--first-seed", "1000", "--json", "state/r.json", "--report", "state/r.md"),
		{name: "flags/bench latent --compare on other seeds", files: map[string]string{"tuned.json": `{"eval_seeds": [1, 2, 3, 4, 5], "rows": []}`},
			args: []string{"bench", "latent", "--inflation", "adaptive", "--seeds", "3", "--first-seed", "201", "--compare", "tuned.json", "--json", "state/r.json", "--report", "state/r.md"},
			want: "--compare tuned.json: its rows were scored on the evaluation seeds [1 2 3 4 5], this run's are [201 202 203]"},
		{name: "flags/bench latent --tuning-from tuned on other seeds", files: map[string]string{"tuned.json": `{"tuning_seeds": [101, 102], "eval_seeds": [1, 2, 3, 4, 5], "rows": []}`},
			args: []string{"bench", "latent", "--tuning-from", "tuned.json", "--seeds", "20", "--json", "state/r.json", "--report", "state/r.md"},
			want: "--tuning-from tuned.json: its rows were tuned on the seeds [101 102], this run's are [101 102 103 104 105]"},
		flags("bench latent evaluation seeds on the confirmation seeds", "bench latent: evaluation seed 106 is also a tuning seed (101..105), a confirmation seed or the archive's (1001)", "bench", "latent", "--confirm", "3", "--first-seed", "106", "--json", "state/r.json", "--report", "state/r.md"),
		flags("bench latent --min-inflation with the EnKF-N", "bench latent: --min-inflation must be 0 (the default bound) or in [0.01, 1], and only with --scheme innovation or local-innovation; got 1", "bench", "latent", "--inflation", "adaptive", "--min-inflation", "1", "--json", "state/r.json", "--report", "state/r.md"),
		flags("bench latent --min-inflation above 1", "bench latent: --min-inflation must be 0 (the default bound) or in [0.01, 1], and only with --scheme innovation or local-innovation; got 1.1", "bench", "latent", "--inflation", "adaptive", "--scheme", "local-innovation", "--min-inflation", "1.1", "--json", "state/r.json", "--report", "state/r.md"),
		flags("bench latent --confirm 1", "bench latent: --confirm must be 0 (none) or 2..20 configurations of a tuning (not with --tuned); got 1", "bench", "latent", "--confirm", "1", "--json", "state/r.json", "--report", "state/r.md"),
		flags("bench latent --trace with tuning", "bench latent: --trace writes the evaluation runs, one file each: give --tuned or --tuning-from, so that no tuning runs", "bench", "latent", "--trace", "state/trace", "--json", "state/r.json", "--report", "state/r.md"),
		flags("bench latent --tuning-from its own --json", "--tuning-from state/r.json is also --json, which this run rewrites after every row; give another --json", "bench", "latent", "--tuning-from", "state/r.json", "--json", "state/r.json", "--report", "state/r.md"),
		{name: "flags/bench pair one report", args: []string{"bench", "pair", "a.json"}, want: "want pairs of reports, A.json B.json [A2.json B2.json ...], got 1 file(s)"},
		{name: "flags/bench pair three reports", args: []string{"bench", "pair", "a.json", "b.json", "c.json"}, want: "want pairs of reports, A.json B.json [A2.json B2.json ...], got 3 file(s)"},
		{name: "flags/bench pair pairs on other seeds", files: map[string]string{"a.json": `{"eval_seeds": [1, 2], "rows": []}`, "b.json": `{"eval_seeds": [1, 2], "rows": []}`, "c.json": `{"eval_seeds": [3], "rows": []}`, "d.json": `{"eval_seeds": [4], "rows": []}`},
			args: []string{"bench", "pair", "a.json", "b.json", "c.json", "d.json"}, want: "bench pair: c.json was scored on the evaluation seeds [3], d.json on [4]"},
		{name: "flags/bench pair pooled seeds overlap", files: map[string]string{"a.json": `{"eval_seeds": [1, 2], "rows": []}`, "b.json": `{"eval_seeds": [1, 2], "rows": []}`},
			args: []string{"bench", "pair", "a.json", "b.json", "a.json", "b.json"}, want: "bench pair: a.json and an earlier report were both scored on seed 1; pooled sets need disjoint seeds"},
		{name: "flags/bench pair negative draws", args: []string{"bench", "pair", "--draw-seeds", "-1", "a.json", "b.json"}, want: "--draw-seeds must be 0 (as many as the reports were scored on) to 1000, got -1"},
		{name: "flags/bench pair too many draws", args: []string{"bench", "pair", "--draw-seeds", "1001", "a.json", "b.json"}, want: "--draw-seeds must be 0 (as many as the reports were scored on) to 1000, got 1001"},
		{name: "flags/bench pair a missing report", args: []string{"bench", "pair", "a.json", "b.json"}, want: "a.json: no such file"},
		{name: "flags/bench pair not JSON", files: map[string]string{"a.json": "rows: []", "b.json": `{"rows": []}`},
			args: []string{"bench", "pair", "a.json", "b.json"}, want: "a.json: bench latent: reading a report"},
		{name: "flags/bench pair other seeds", files: map[string]string{"a.json": `{"eval_seeds": [1, 2], "rows": []}`, "b.json": `{"eval_seeds": [3, 4], "rows": []}`},
			args: []string{"bench", "pair", "a.json", "b.json"}, want: "bench pair: a.json was scored on the evaluation seeds [1 2], b.json on [3 4]"},
		{name: "flags/bench pair no row in common", files: map[string]string{"a.json": `{"eval_seeds": [1, 2], "rows": []}`, "b.json": `{"eval_seeds": [1, 2], "rows": []}`},
			args: []string{"bench", "pair", "a.json", "b.json"}, want: "bench pair: a.json and b.json have no row in common"},
		{name: "flags/bench latent --tuning-from not JSON", files: map[string]string{"tuned.json": "rows: []"},
			args: []string{"bench", "latent", "--tuning-from", "tuned.json", "--json", "state/r.json", "--report", "state/r.md"},
			want: "--tuning-from: tuned.json: bench latent: reading a report"},
		flags("bench latent --xn without adaptive", "--xn must be a finite number >= 0, and only with --inflation adaptive --scheme enkf-n (--enkf-n on top of an innovation scheme keeps xn 1, or tunes it with --tune-xn); got 2", "bench", "latent", "--xn", "2", "--json", "state/r.json", "--report", "state/r.md"),
		flags("bench latent --xn with local-innovation", "--xn must be a finite number >= 0, and only with --inflation adaptive --scheme enkf-n (--enkf-n on top of an innovation scheme keeps xn 1, or tunes it with --tune-xn); got 2", "bench", "latent", "--inflation", "adaptive", "--scheme", "local-innovation", "--xn", "2", "--json", "state/r.json", "--report", "state/r.md"),
		flags("bench latent unknown --scheme", `--scheme must be one of enkf-n, innovation, local-innovation, and only with --inflation adaptive; got "anderson"`, "bench", "latent", "--inflation", "adaptive", "--scheme", "anderson", "--json", "state/r.json", "--report", "state/r.md"),
		flags("bench dapper --enkf-n without --local-letkf", "--enkf-n: with --local-letkf", "bench", "dapper", "--inflation", "adaptive", "--enkf-n"),
		flags("bench latent --enkf-n with the EnKF-N scheme", "--enkf-n adds the EnKF-N to --scheme innovation or local-innovation", "bench", "latent", "--inflation", "adaptive", "--enkf-n", "--json", "state/r.json", "--report", "state/r.md"),
		flags("bench latent --enkf-n without adaptive", "--enkf-n adds the EnKF-N to --scheme innovation or local-innovation", "bench", "latent", "--enkf-n", "--json", "state/r.json", "--report", "state/r.md"),
		flags("bench latent --enkf-n-memory without the EnKF-N", "--enkf-n-memory must be >= 0, and averages the local EnKF-N: with --inflation adaptive and --scheme enkf-n or --enkf-n; got 20", "bench", "latent", "--inflation", "adaptive", "--scheme", "local-innovation", "--enkf-n-memory", "20", "--json", "state/r.json", "--report", "state/r.md"),
		flags("bench latent --enkf-n-memory without adaptive", "--enkf-n-memory must be >= 0, and averages the local EnKF-N: with --inflation adaptive and --scheme enkf-n or --enkf-n; got 20", "bench", "latent", "--enkf-n-memory", "20", "--json", "state/r.json", "--report", "state/r.md"),
		flags("bench latent --enkf-n-memory negative", "--enkf-n-memory must be >= 0, and averages the local EnKF-N: with --inflation adaptive and --scheme enkf-n or --enkf-n; got -1", "bench", "latent", "--inflation", "adaptive", "--enkf-n-memory", "-1", "--json", "state/r.json", "--report", "state/r.md"),
		flags("bench latent --tune-enkf-n-memory without the EnKF-N", "--tune-enkf-n-memory tunes the local EnKF-N's memory: with --inflation adaptive and --scheme enkf-n or --enkf-n, and without --enkf-n-memory or --tune-xn", "bench", "latent", "--inflation", "adaptive", "--scheme", "local-innovation", "--tune-enkf-n-memory", "--json", "state/r.json", "--report", "state/r.md"),
		flags("bench latent --tune-xn without --enkf-n", "--tune-xn tunes the xn of --enkf-n", "bench", "latent", "--inflation", "adaptive", "--scheme", "local-innovation", "--tune-xn", "--json", "state/r.json", "--report", "state/r.md"),
		flags("bench latent --prior-sd with the EnKF-N", "--prior-sd must be a finite number >= 0, and only with --scheme innovation or local-innovation; got 0.04", "bench", "latent", "--inflation", "adaptive", "--prior-sd", "0.04", "--json", "state/r.json", "--report", "state/r.md"),
		flags("bench latent --inflation unknown", `--inflation: want adaptive (or nothing, for the grid-tuned inflation), got "1.05"`, "bench", "latent", "--inflation", "1.05", "--json", "state/r.json", "--report", "state/r.md"),
		flags("bench ood --first-seed 0", "--first-seed must be >= 1, got 0", "bench", "ood", "--first-seed", "0", "--json", "state/o.json", "--report", "state/o.md"),
		{name: "flags/bench ood --merge of an unknown key", files: map[string]string{"ks.json": `{"cycles": 100, "far": 0.01}`},
			args: []string{"bench", "ood", "--merge", "ks.json", "--json", "state/o.json", "--report", "state/o.md"},
			want: `bench ood: merge: ks.json: json: unknown field "far"`},
		flags("bench ood --merge of a missing file", "bench ood: merge: open nope.json", "bench", "ood", "--merge", "nope.json", "--json", "state/o.json", "--report", "state/o.md"),
		flags("train config with validation 0", "validation: line 4: 0 means unset", "train", "-c", "t.yaml", "--state-dir", "state"),
		{name: "flags/train an external program elsewhere", files: map[string]string{"e.yaml": "name: e\nmodel: {name: external, command: [/usr/bin/env, node, m.mjs], state_size: 40, dt: 0.05}\narchive: {samples: 50}\ngenerator: {type: pca, latent_dim: 3}\n"},
			args: []string{"train", "-c", "e.yaml", "--state-dir", "state"}, want: "model.command: /usr/bin/env (/usr/bin/env) is outside the state directory"},

		// Corrupted and swapped files of a finished run.
		damaged("rerun from a cycle past the end", nil, "--from-cycle 9: run good has cycles 1..6", rerun("--from-cycle", "9")...),
		damaged("rerun --set an unknown key", nil, "filter.inflaton: unknown key", rerun("--from-cycle", "2", "--set", "filter.inflaton=1.1")...),
		damaged("rerun --set variance 0", nil, "after observations.variance=0: observations.variance: 0 means unset", rerun("--from-cycle", "2", "--set", "observations.variance=0")...),
		damaged("rerun --set members", nil, "the ensemble shape cannot change", rerun("--from-cycle", "2", "--set", "filter.members=7")...),
		damaged("truncated states", func(t *testing.T, r store.RunDir) { truncate(t, states(r, 1)) }, "states-000001-000002.arrow", rerun("--from-cycle", "2")...),
		damaged("states replaced by text", func(t *testing.T, r store.RunDir) { write(t, states(r, 1), "not arrow") }, "states-000001-000002.arrow", rerun("--from-cycle", "2")...),
		damaged("missing states", func(t *testing.T, r store.RunDir) { remove(t, states(r, 1)) }, "no readable analysis of cycle 2", rerun("--from-cycle", "2")...),
		damaged("truncated initial analysis", func(t *testing.T, r store.RunDir) { truncate(t, r.Analysis(0)) }, "000000/analysis.arrow", rerun("--from-cycle", "0")...),
		damaged("stored config broken", func(t *testing.T, r store.RunDir) { write(t, r.Config(), "{{{") }, "config.yaml: invalid YAML", rerun("--from-cycle", "2")...),
		damaged("stored config with a second document", func(t *testing.T, r store.RunDir) { appendTo(t, r.Config(), "---\nname: x\n") }, "config.yaml: checksum mismatch", rerun("--from-cycle", "2")...),
		damaged("stored config with a value changed", func(t *testing.T, r store.RunDir) { replaceIn(t, r.Config(), "seed: ", "seed: 9") }, "config.yaml: checksum mismatch", rerun("--from-cycle", "2")...),
		damaged("states swapped for other cycles'", func(t *testing.T, r store.RunDir) { copyFile(t, states(r, 3), states(r, 1)) }, "states-000001-000002.arrow: record batch 0, row 0: cycle 3", rerun("--from-cycle", "2")...),
		damaged("states copied from another run", func(t *testing.T, r store.RunDir) {
			copyFile(t, filepath.Join(r.Root, "..", "..", "..", "other-states.arrow"), states(r, 1))
		}, "holds run other's cycle 2", rerun("--from-cycle", "2")...),
		damaged("bit flipped in states", func(t *testing.T, r store.RunDir) {
			rs := store.OpenRunState(r)
			defer rs.Close()
			E, _, err := rs.Ensemble(store.FieldAnalysis, 2)
			if err != nil {
				t.Fatal(err)
			}
			flipBit(t, states(r, 1), E.At(3, 1))
		}, "states-000001-000002.arrow: record batch 0: checksum mismatch", rerun("--from-cycle", "2")...),
		damaged("bit flipped in the initial analysis", func(t *testing.T, r store.RunDir) {
			E, _, err := store.ReadEnsemble(r.Analysis(0))
			if err != nil {
				t.Fatal(err)
			}
			flipBit(t, r.Analysis(0), E.At(5, 2))
		}, "000000/analysis.arrow: record batch 0: checksum mismatch", rerun("--from-cycle", "0")...),
		damaged("bit flipped in diagnostics, report", func(t *testing.T, r store.RunDir) {
			rows, _, err := store.ReadDiagnostics(r.Diagnostics())
			if err != nil {
				t.Fatal(err)
			}
			flipBit(t, r.Diagnostics(), rows[3].RMSEA)
		}, "diagnostics.arrow: record batch 0: checksum mismatch", "report", "good", "--state-dir", "state"),
		damaged("truncated diagnostics, report", func(t *testing.T, r store.RunDir) { truncate(t, r.Diagnostics()) }, "diagnostics.arrow", "report", "good", "--state-dir", "state"),
		damaged("truncated diagnostics, compare", func(t *testing.T, r store.RunDir) { truncate(t, r.Diagnostics()) }, "diagnostics.arrow", "compare", "good", "good", "--state-dir", "state"),
		damaged("diagnostics swapped for an analysis", func(t *testing.T, r store.RunDir) { copyFile(t, r.Analysis(0), r.Diagnostics()) }, "diagnostics.arrow", "report", "good", "--state-dir", "state"),
	}
}

func TestBadInput(t *testing.T) {
	cases := badCases()
	if len(cases) < 60 {
		t.Fatalf("%d cases, want at least 60", len(cases))
	}
	// The finished run the file cases damage (a copy each).
	fixture := t.TempDir()
	if err := os.WriteFile(filepath.Join(fixture, "c.yaml"), []byte(goodL63), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := execute(t, "run", "--in-process", "-c", filepath.Join(fixture, "c.yaml"), "--state-dir", filepath.Join(fixture, "state"), "--run-id", "good", "--batch-cycles", "2"); err != nil {
		t.Fatal(err)
	}
	// A second run whose analysis the swapped-file cases copy; it lives
	// outside the copied state.
	other := t.TempDir()
	if _, _, err := execute(t, "run", "--in-process", "-c", filepath.Join(fixture, "c.yaml"), "--state-dir", other, "--run-id", "other", "--batch-cycles", "2"); err != nil {
		t.Fatal(err)
	}
	copyFile(t, states(store.RunDir{Root: filepath.Join(other, "runs", "other")}, 1), filepath.Join(fixture, "other-states.arrow"))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				write(t, filepath.Join(dir, name), content)
			}
			write(t, filepath.Join(dir, "t.yaml"), "name: t\nmodel: {name: lorenz96}\narchive: {samples: 50}\nvalidation: 0\ngenerator: {type: pca, latent_dim: 3}\n")
			if err := os.CopyFS(filepath.Join(dir, "state"), os.DirFS(filepath.Join(fixture, "state"))); err != nil {
				t.Fatal(err)
			}
			copyFile(t, filepath.Join(fixture, "other-states.arrow"), filepath.Join(dir, "other-states.arrow"))
			if tc.damage != nil {
				tc.damage(t, store.RunDir{Root: filepath.Join(dir, "state", "runs", "good")})
			}
			before := snapshot(t, dir)
			cmd := exec.Command(os.Args[0], tc.args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), reexecEnv+"=1", "LATENTDA_STATE_DIR=", "TEMPORAL_ADDRESS=127.0.0.1:1")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("%v: still running after 30 s", tc.args)
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() <= 0 {
				t.Fatalf("%v: exit %v, want a non-zero status\nstderr:\n%s", tc.args, err, stderr.String())
			}
			if tc.status != 0 && ee.ExitCode() != tc.status {
				t.Errorf("%v: exit status %d, want %d", tc.args, ee.ExitCode(), tc.status)
			}
			out := stderr.String()
			if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic") {
				t.Fatalf("a panic or stack trace:\n%s", out)
			}
			var msgs []string
			for line := range strings.Lines(out) {
				if strings.HasPrefix(line, "latentda: ") {
					msgs = append(msgs, line)
				}
			}
			if len(msgs) != 1 || !strings.Contains(msgs[0], tc.want) {
				t.Fatalf("want one error line containing %q, got:\n%s", tc.want, out)
			}
			t.Logf("%s", out)
			if n := strings.Count(out, tc.want); n != 1 {
				t.Errorf("the message appears %d times:\n%s", n, out)
			}
			for path, fi := range snapshot(t, dir) {
				if strings.HasPrefix(path, "state"+string(filepath.Separator)) || path == "state" {
					continue
				}
				if old, ok := before[path]; !ok || old != fi {
					t.Errorf("wrote %s outside the state directory", path)
				}
			}
		})
	}
}

// fileSig is what snapshot records of a file.
type fileSig struct {
	size int64
	mod  time.Time
	dir  bool
}

// snapshot lists the files under dir (relative paths).
func snapshot(t *testing.T, dir string) map[string]fileSig {
	t.Helper()
	m := map[string]fileSig{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		m[rel] = fileSig{size: fi.Size(), mod: fi.ModTime(), dir: d.IsDir()}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	delete(m, ".")
	for k, v := range m {
		if v.dir {
			m[k] = fileSig{dir: true}
		}
	}
	return m
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, path, content string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	write(t, path, string(data)+content)
}

func truncate(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dst, string(data))
}

// states is the batch file of a run's states (forecasts, analyses,
// truths) of the two cycles from, from+1 (the fixture runs batches of
// two cycles).
func states(r store.RunDir, from int) string {
	return filepath.Join(r.Root, "batches", fmt.Sprintf("states-%06d-%06d.arrow", from, from+1))
}

// flipBit flips the lowest mantissa bit of the first float64 in the file
// at path that equals v, as a disk error might: the value stays finite.
func flipBit(t *testing.T, path string, v float64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, binary.LittleEndian.AppendUint64(nil, math.Float64bits(v)))
	if i < 0 {
		t.Fatalf("%v is not in %s", v, path)
	}
	data[i] ^= 1
	write(t, path, string(data))
}

// replaceIn replaces the first old in the file at path by new.
func replaceIn(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(data), old) {
		t.Fatalf("%s: %v, or no %q in it", path, err, old)
	}
	write(t, path, strings.Replace(string(data), old, new, 1))
}
