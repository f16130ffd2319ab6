package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// The files in deploy/ cannot run here (no container images), so these
// tests keep them honest: every YAML file parses, every latentda command
// line in them parses with the real CLI, and every LATENTDA_/TEMPORAL_
// variable they set is one the CLI reads.

const deployDir = "../../deploy"

// yamlDocs parses every document of every .yaml file under deploy/.
func yamlDocs(t *testing.T) map[string][]map[string]any {
	t.Helper()
	docs := map[string][]map[string]any{}
	err := filepath.WalkDir(deployDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		dec := yaml.NewDecoder(f)
		for {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Errorf("%s: %v", path, err)
				break
			}
			docs[path] = append(docs[path], doc)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// envVarsRead collects the environment variables that the CLI's flags
// name in their help ("(env NAME)" or "(env NAME or OTHER)").
func envVarsRead() map[string]bool {
	re := regexp.MustCompile(`\(env ([A-Z0-9_]+)(?: or ([A-Z0-9_]+))?\)`)
	vars := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		visit := func(f *pflag.Flag) {
			for _, m := range re.FindAllStringSubmatch(f.Usage, -1) {
				for _, v := range m[1:] {
					if v != "" {
						vars[v] = true
					}
				}
			}
		}
		c.Flags().VisitAll(visit)
		c.PersistentFlags().VisitAll(visit)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
	return vars
}

// commandLineError parses args as the CLI would, without running them.
func commandLineError(args []string) error {
	root := newRootCmd()
	cmd, rest, err := root.Find(args)
	if err != nil {
		return err
	}
	if cmd == root {
		return fmt.Errorf("%q names no latentda command", args)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return err
	}
	return cmd.ValidateArgs(cmd.Flags().Args())
}

func checkCommandLine(t *testing.T, where string, args []string) {
	t.Helper()
	if err := commandLineError(args); err != nil {
		t.Errorf("%s: %q: %v", where, args, err)
	}
}

// unknownEnv lists the LATENTDA_ and TEMPORAL_ variables in env that the
// CLI does not read.
func unknownEnv(env map[string]any, known map[string]bool) []string {
	var bad []string
	for k := range env {
		if (strings.HasPrefix(k, "LATENTDA_") || strings.HasPrefix(k, "TEMPORAL_")) && !known[k] {
			bad = append(bad, k)
		}
	}
	return bad
}

func checkEnv(t *testing.T, where string, env map[string]any, known map[string]bool) {
	t.Helper()
	for _, k := range unknownEnv(env, known) {
		t.Errorf("%s: sets %s, which latentda does not read", where, k)
	}
}

func strs(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func TestDeployCompose(t *testing.T) {
	docs := yamlDocs(t)
	known := envVarsRead()
	for _, v := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "LATENTDA_STATE_DIR", "LATENTDA_METRICS_ADDR", "LATENTDA_LOG_FORMAT", "TEMPORAL_API_KEY", "TEMPORAL_TLS_CLIENT_CERT_PATH"} {
		if !known[v] {
			t.Fatalf("flag help does not name %s: envVarsRead is broken or the variable is gone", v)
		}
	}
	compose := docs[filepath.Join(deployDir, "compose.yaml")]
	if len(compose) != 1 {
		t.Fatalf("compose.yaml: %d documents", len(compose))
	}
	services, _ := compose[0]["services"].(map[string]any)
	var latentda []string
	for name, s := range services {
		svc := s.(map[string]any)
		if svc["image"] != "latentda:dev" {
			continue
		}
		latentda = append(latentda, name)
		env, _ := svc["environment"].(map[string]any)
		checkEnv(t, "compose.yaml service "+name, env, known)
		if cmd := strs(svc["command"]); len(cmd) > 0 {
			checkCommandLine(t, "compose.yaml service "+name, cmd)
		}
	}
	slices.Sort(latentda)
	if want := []string{"cli", "setup", "worker"}; !slices.Equal(latentda, want) {
		t.Errorf("latentda services %v, want %v", latentda, want)
	}
	for _, name := range []string{"postgresql", "temporal-schema", "temporal", "temporal-ui"} {
		if services[name] == nil {
			t.Errorf("compose.yaml has no %s service", name)
		}
	}
}

func TestDeployKubernetes(t *testing.T) {
	docs := yamlDocs(t)
	known := envVarsRead()
	kinds := map[string]int{}
	for path, ds := range docs {
		if !strings.Contains(path, "k8s") {
			continue
		}
		for _, d := range ds {
			kind, _ := d["kind"].(string)
			kinds[kind]++
			if kind == "ConfigMap" {
				data, _ := d["data"].(map[string]any)
				checkEnv(t, path, data, known)
			}
			spec, _ := d["spec"].(map[string]any)
			tmpl, _ := spec["template"].(map[string]any)
			podSpec, _ := tmpl["spec"].(map[string]any)
			containers, _ := podSpec["containers"].([]any)
			for _, c := range containers {
				c := c.(map[string]any)
				if c["image"] == "latentda" {
					checkCommandLine(t, path, strs(c["args"]))
				}
			}
		}
	}
	for _, k := range []string{"Kustomization", "ConfigMap", "PersistentVolumeClaim", "Job", "Deployment", "Service"} {
		if kinds[k] == 0 {
			t.Errorf("deploy/k8s has no %s", k)
		}
	}
}

// TestDeployDockerfile checks the image's default command and environment.
func TestDeployDockerfile(t *testing.T) {
	f, err := os.Open(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	known := envVarsRead()
	env := map[string]any{}
	var cmd []string
	var inEnv bool
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "ENV "):
			inEnv = true
			line = strings.TrimPrefix(line, "ENV ")
		case strings.HasPrefix(line, "CMD "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "CMD ")), &cmd); err != nil {
				t.Fatalf("CMD is not an exec-form JSON array: %v", err)
			}
		}
		if inEnv {
			for _, kv := range strings.Fields(strings.TrimSuffix(line, `\`)) {
				k, _, ok := strings.Cut(kv, "=")
				if !ok {
					t.Errorf("Dockerfile ENV item %q is not KEY=VALUE", kv)
				}
				env[k] = true
			}
			inEnv = strings.HasSuffix(line, `\`)
		}
	}
	if len(env) == 0 || len(cmd) == 0 {
		t.Fatalf("Dockerfile: ENV %v, CMD %q", env, cmd)
	}
	checkEnv(t, "Dockerfile", env, known)
	checkCommandLine(t, "Dockerfile CMD", cmd)
}

// TestDeployChecksCatchMistakes makes sure the checks above can fail.
func TestDeployChecksCatchMistakes(t *testing.T) {
	for _, args := range [][]string{
		{"worker", "--metrics-address", ":9090"},
		{"wroker"},
		{"setup", "--retention"},
		{"worker", "extra"},
	} {
		if commandLineError(args) == nil {
			t.Errorf("%q passed the command-line check", args)
		}
	}
	if bad := unknownEnv(map[string]any{"LATENTDA_STATEDIR": "/x", "TEMPORAL_ADDRESS": "a"}, envVarsRead()); !slices.Equal(bad, []string{"LATENTDA_STATEDIR"}) {
		t.Errorf("unknown variables %v, want [LATENTDA_STATEDIR]", bad)
	}
}
