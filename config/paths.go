package config

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Files a config names (latent.generator, ood.generator) live in the state
// directory: a relative path is relative to it and may not climb out of it
// with "..", and an absolute path must lie inside it, or inside a
// directory the operator allowed explicitly (--allow-path). A config from
// someone else then cannot make a worker read /etc/passwd or another
// state directory's files. Likewise an external model's program given as
// a path (model.command[0] with a separator) must lie in one of those
// directories; a bare program name is looked up on PATH.

// PathError is a config path outside the state directory and the allowed
// directories.
type PathError struct {
	Field, Path, StateDir string
	// Program is the absolute path of model.command's program, which is
	// relative to model.workdir and that to the working directory, not
	// to the state directory; "" for the other paths.
	Program string
}

func (e *PathError) Error() string {
	if e.Program != "" {
		return fmt.Sprintf("%s: %s (%s) is outside the state directory %s; put the program under it or allow its directory with --allow-path DIR (a program name without a separator, such as python3, is looked up on PATH)",
			e.Field, e.Path, e.Program, e.StateDir)
	}
	return fmt.Sprintf("%s: %s is outside the state directory %s; put the file under it (such as generators/NAME.arrow) or allow its directory with --allow-path DIR", e.Field, e.Path, e.StateDir)
}

// Confine returns c with the file paths it names resolved against the
// state directory stateDir, or a *PathError for one that lies
// outside stateDir and every directory of allow (absolute paths). The
// words identity (latent.generator) and latent (ood.generator) are not
// paths and stay as they are. An external model's program is checked
// ([ConfineProgram]) but left as written.
func (c Config) Confine(stateDir string, allow []string) (Config, error) {
	if err := ConfineProgram(c.Model, stateDir, allow); err != nil {
		return Config{}, err
	}
	if l := c.Latent; l != nil && l.Generator != "" && l.Generator != "identity" {
		p, err := ConfinePath("latent.generator", l.Generator, stateDir, allow)
		if err != nil {
			return Config{}, err
		}
		resolved := *l
		resolved.Generator = p
		c.Latent = &resolved
	}
	if o := c.OOD; o != nil && o.Generator != "" && o.Generator != "latent" {
		p, err := ConfinePath("ood.generator", o.Generator, stateDir, allow)
		if err != nil {
			return Config{}, err
		}
		resolved := *o
		resolved.Generator = p
		c.OOD = &resolved
	}
	return c, nil
}

// ConfinePath resolves path, the value of config key field, against the
// state directory stateDir (see [Config.Confine]). The check is lexical:
// symbolic links inside the state directory are the operator's.
func ConfinePath(field, path, stateDir string, allow []string) (string, error) {
	bad := &PathError{Field: field, Path: path, StateDir: stateDir}
	if strings.ContainsRune(path, 0) {
		return "", bad
	}
	if !filepath.IsAbs(path) {
		if !filepath.IsLocal(path) {
			return "", bad
		}
		return filepath.Join(stateDir, path), nil
	}
	path = filepath.Clean(path)
	if !inside(path, stateDir, allow) {
		return "", bad
	}
	return path, nil
}

// ConfineProgram checks the program of an external model m,
// model.command[0]: given as a path (it contains a separator), it must lie
// inside stateDir or a directory of allow once resolved as the worker
// runs it, a relative path against model.workdir and that against the
// working directory. A bare name is looked up on PATH when the model
// starts, as a shell would, and is not checked. The arguments are not
// checked either: latentda does not know which name files, and an
// interpreter on PATH runs whatever code its arguments give it
// (docs/external-models.md).
func ConfineProgram(m ModelConfig, stateDir string, allow []string) error {
	if m.Name != "external" || len(m.Command) == 0 {
		return nil
	}
	prog := m.Command[0]
	if !strings.ContainsRune(prog, '/') && !strings.ContainsRune(prog, filepath.Separator) {
		return nil
	}
	path := prog
	if !filepath.IsAbs(path) {
		path = filepath.Join(m.Workdir, path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	if strings.ContainsRune(prog, 0) || err != nil || !inside(abs, stateDir, allow) {
		return &PathError{Field: "model.command", Path: prog, StateDir: stateDir, Program: abs}
	}
	return nil
}

// inside reports whether the clean absolute path lies in stateDir or a
// directory of allow.
func inside(path, stateDir string, allow []string) bool {
	for _, dir := range append([]string{stateDir}, allow...) {
		dir, err := filepath.Abs(dir)
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(dir, path); err == nil && filepath.IsLocal(rel) {
			return true
		}
	}
	return false
}
