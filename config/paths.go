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
// state directory's files.

// PathError is a config path outside the state directory and the allowed
// directories.
type PathError struct {
	Field, Path, StateDir string
}

func (e *PathError) Error() string {
	return fmt.Sprintf("%s: %s is outside the state directory %s; put the file under it (such as generators/NAME.arrow) or allow its directory with --allow-path DIR", e.Field, e.Path, e.StateDir)
}

// Confine returns c with the file paths it names resolved against the
// state directory stateDir, or a *PathError for one that lies
// outside stateDir and every directory of allow (absolute paths). The
// words identity (latent.generator) and latent (ood.generator) are not
// paths and stay as they are.
func (c Config) Confine(stateDir string, allow []string) (Config, error) {
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
	for _, dir := range append([]string{stateDir}, allow...) {
		dir, err := filepath.Abs(dir)
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(dir, path); err == nil && filepath.IsLocal(rel) {
			return path, nil
		}
	}
	return "", bad
}
