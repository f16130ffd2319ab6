package config

import (
	"bytes"
	"fmt"
	"hash/crc32"
)

// checksumPrefix starts the last line of a run directory's config.yaml:
// a YAML comment holding the CRC-32C (Castagnoli) of the bytes above it,
// as the Arrow files of a run carry theirs (docs/state-format.md).
const checksumPrefix = "# latentda checksum crc32c:"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// WithChecksum returns yaml followed by its checksum line, as a run
// directory's config.yaml is written.
func WithChecksum(yaml []byte) []byte {
	return fmt.Appendf(bytes.Clone(yaml), "%s%08x\n", checksumPrefix, crc32.Checksum(yaml, castagnoli))
}

// VerifyChecksum returns data without its checksum line, or an error if
// the line does not match the bytes above it (the file was damaged or
// edited). Data without a checksum line (a config a user wrote, or a run
// directory written before the line) is returned as it is.
func VerifyChecksum(data []byte) ([]byte, error) {
	i := bytes.LastIndex(data, []byte(checksumPrefix))
	if i < 0 || (i > 0 && data[i-1] != '\n') {
		return data, nil
	}
	body, line := data[:i], bytes.TrimSuffix(data[i+len(checksumPrefix):], []byte("\n"))
	if want := fmt.Sprintf("%08x", crc32.Checksum(body, castagnoli)); string(line) != want {
		return nil, fmt.Errorf("checksum mismatch: its last line says crc32c:%s, the lines above give crc32c:%s: the file is damaged or was edited (remove that line to use it as a new config)", line, want)
	}
	return body, nil
}

// SameStored reports whether a run directory's config.yaml, old (its
// checksum line removed), holds the config whose YAML is cfgYAML
// (Config.Marshal of its WithDefaults): the same bytes, or a file written
// before the orchestration settings left the science sections (it holds
// filter.blocks: 0) that reads back as the same config.
func SameStored(old, cfgYAML []byte) bool {
	if bytes.Equal(old, cfgYAML) {
		return true
	}
	cfg, err := ParseStored(old)
	if err != nil {
		return false
	}
	y, err := cfg.Marshal()
	return err == nil && bytes.Equal(y, cfgYAML)
}
