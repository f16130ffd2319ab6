package arrowfile

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/latentda/latentda/store/internal/ipcverify"
)

// SchemaVersion is the version of the on-disk format latentda writes,
// stored in every file under the metadata key "latentda.schema_version".
// Readers accept files of this version and reject newer ones with an error
// matching [ErrNewerSchema]. See docs/state-format.md for the policy.
const SchemaVersion = 6

// Kind says what a state file holds; it is stored under "latentda.kind".
type Kind string

// Metadata keys. Every key latentda writes starts with "latentda.".
const (
	KeyPrefix        = "latentda."
	KeySchemaVersion = "latentda.schema_version"
	KeyKind          = "latentda.kind"
	KeyRunID         = "latentda.run_id"
	KeyModel         = "latentda.model"
	KeyCycle         = "latentda.cycle"
	KeyTime          = "latentda.time"
	KeyParamPrefix   = "latentda.param."
	KeyExtraPrefix   = "latentda.extra."
	// KeyStateSize holds the state dimension n of ensemble, vector and
	// archive files; it must match the list size of their "state" column.
	KeyStateSize = "latentda.state_size"
)

// Meta is the schema-level metadata common to all state files. It is stored
// as string key/values in the Arrow schema metadata, so that any Arrow
// implementation can read it.
//
// Readers return Params and Extra as nil when a file has none; writers treat
// nil and empty maps alike.
type Meta struct {
	// SchemaVersion is the format version of the file. Readers set it;
	// writers always write [SchemaVersion] and accept 0 or SchemaVersion.
	SchemaVersion int
	// Kind is what the file holds. Writers fill it in when empty and reject
	// a Kind that does not match the file they write.
	Kind Kind
	// RunID identifies the assimilation run.
	RunID string
	// Model names the forecast model, e.g. "lorenz96".
	Model string
	// Params are the model parameters, e.g. {"nx": "40", "F": "8"}.
	// Stored as "latentda.param.<name>".
	Params map[string]string
	// Cycle is the assimilation cycle, 0 <= Cycle <= math.MaxInt32.
	Cycle int
	// Time is the model time of the cycle; it must be finite.
	Time float64
	// Extra holds free key/values, stored as "latentda.extra.<key>".
	Extra map[string]string
}

// metaEncoder collects key/values and turns them into sorted arrow.Metadata.
type metaEncoder struct {
	kv map[string]string
}

// EncodeMeta validates m for a file of the given kind and returns the Arrow
// schema metadata, including the kind-specific data keys in data. Keys are
// sorted so that the same Meta always gives the same bytes.
func EncodeMeta(m Meta, kind Kind, data map[string]string) (arrow.Metadata, error) {
	if m.SchemaVersion != 0 && m.SchemaVersion != SchemaVersion {
		return arrow.Metadata{}, fmt.Errorf("meta: SchemaVersion is %d, but this build writes only schema version %d", m.SchemaVersion, SchemaVersion)
	}
	if m.Kind != "" && m.Kind != kind {
		return arrow.Metadata{}, fmt.Errorf("meta: Kind is %q, but this writer writes %q files", m.Kind, kind)
	}
	if m.Cycle < 0 || m.Cycle > math.MaxInt32 {
		return arrow.Metadata{}, fmt.Errorf("meta: Cycle %d out of range [0, %d]", m.Cycle, math.MaxInt32)
	}
	if math.IsNaN(m.Time) || math.IsInf(m.Time, 0) {
		return arrow.Metadata{}, fmt.Errorf("meta: Time %v is not finite", m.Time)
	}
	if !utf8.ValidString(m.RunID) || !utf8.ValidString(m.Model) {
		return arrow.Metadata{}, fmt.Errorf("meta: RunID or Model is not valid UTF-8")
	}
	e := metaEncoder{kv: map[string]string{
		KeySchemaVersion: strconv.Itoa(SchemaVersion),
		KeyKind:          string(kind),
		KeyRunID:         m.RunID,
		KeyModel:         m.Model,
		KeyCycle:         strconv.Itoa(m.Cycle),
		KeyTime:          FormatFloat(m.Time),
	}}
	if err := e.addMap("Params", KeyParamPrefix, m.Params); err != nil {
		return arrow.Metadata{}, err
	}
	if err := e.addMap("Extra", KeyExtraPrefix, m.Extra); err != nil {
		return arrow.Metadata{}, err
	}
	for k, v := range data {
		e.kv[k] = v
	}
	keys := make([]string, 0, len(e.kv))
	for k := range e.kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	vals := make([]string, len(keys))
	for i, k := range keys {
		vals[i] = e.kv[k]
	}
	return arrow.NewMetadata(keys, vals), nil
}

func (e *metaEncoder) addMap(field, prefix string, m map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		if k == "" {
			return fmt.Errorf("meta: %s has an empty key", field)
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("meta: %s[%q] is not valid UTF-8", field, k)
		}
		e.kv[prefix+k] = v
	}
	return nil
}

// FormatFloat formats x so that strconv.ParseFloat gives back the same bits
// (for finite x, including -0).
func FormatFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// checkSchemaVersion looks only at latentda.schema_version, so that a file
// from a newer version is reported as such before anything else about it
// (its columns, say) is judged.
func checkSchemaVersion(kvs []ipcverify.KeyValue) (int, error) {
	var (
		found bool
		value string
	)
	for _, kv := range kvs {
		if kv.Key != KeySchemaVersion {
			continue
		}
		if found {
			return 0, Invalidf("metadata key %q appears more than once", KeySchemaVersion)
		}
		found, value = true, kv.Value
	}
	if !found {
		return 0, Invalidf("metadata key %q is missing: not a latentda state file", KeySchemaVersion)
	}
	v, err := strconv.Atoi(value)
	if err != nil {
		return 0, Invalidf("metadata %s = %q is not an integer", KeySchemaVersion, value)
	}
	if v > SchemaVersion {
		return 0, &newerSchemaError{version: v}
	}
	if v < 1 {
		return 0, Invalidf("metadata %s = %d is not a valid schema version", KeySchemaVersion, v)
	}
	return v, nil
}

// SchemaVersionOf returns the schema version of the state file at path,
// read from its verified footer alone, by the rules the readers apply.
func SchemaVersionOf(path string) (int, error) {
	f, size, err := OpenRegular(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	v, err := ipcverify.Footer(f, size)
	if err != nil {
		return 0, Verified(err)
	}
	return checkSchemaVersion(v.Metadata)
}

// DecodeMeta parses the schema metadata of a file. kinds lists the kinds
// the caller accepts; dataKeys the kind-specific keys it requires, whose
// values are returned in data. Keys outside the "latentda." namespace are
// ignored (another tool may have added them); unknown "latentda." keys are
// rejected, since a file of this schema version cannot contain them.
func DecodeMeta(kvs []ipcverify.KeyValue, kinds []Kind, dataKeys []string) (m Meta, data map[string]string, err error) {
	if m.SchemaVersion, err = checkSchemaVersion(kvs); err != nil {
		return Meta{}, nil, err
	}
	// The kind next: a file of another kind has other keys and columns.
	for _, kv := range kvs {
		if kv.Key == KeyKind {
			m.Kind = Kind(kv.Value)
			break
		}
	}
	if !slices.Contains(kinds, m.Kind) {
		if m.Kind == "" {
			return Meta{}, nil, Invalidf("metadata key %q is missing or empty", KeyKind)
		}
		if len(kinds) == 1 {
			return Meta{}, nil, Invalidf("file kind is %q, want %q", m.Kind, kinds[0])
		}
		return Meta{}, nil, Invalidf("file kind is %q, want one of %q", m.Kind, kinds)
	}
	seen := make(map[string]bool, len(kvs))
	var cycle, tm string
	data = make(map[string]string, len(dataKeys))
	for _, kv := range kvs {
		k, v := kv.Key, kv.Value
		if !strings.HasPrefix(k, KeyPrefix) {
			continue
		}
		if seen[k] {
			return Meta{}, nil, Invalidf("metadata key %q appears more than once", k)
		}
		seen[k] = true
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return Meta{}, nil, Invalidf("metadata key %q: not valid UTF-8", k)
		}
		switch {
		case k == KeySchemaVersion:
		case k == KeyKind:
		case k == KeyRunID:
			m.RunID = v
		case k == KeyModel:
			m.Model = v
		case k == KeyCycle:
			cycle = v
		case k == KeyTime:
			tm = v
		case strings.HasPrefix(k, KeyParamPrefix) && len(k) > len(KeyParamPrefix):
			if m.Params == nil {
				m.Params = make(map[string]string)
			}
			m.Params[k[len(KeyParamPrefix):]] = v
		case strings.HasPrefix(k, KeyExtraPrefix) && len(k) > len(KeyExtraPrefix):
			if m.Extra == nil {
				m.Extra = make(map[string]string)
			}
			m.Extra[k[len(KeyExtraPrefix):]] = v
		case slices.Contains(dataKeys, k):
			data[k] = v
		default:
			return Meta{}, nil, Invalidf("unknown metadata key %q for schema version %d", k, SchemaVersion)
		}
	}
	for _, k := range []string{KeyKind, KeyRunID, KeyModel, KeyCycle, KeyTime} {
		if !seen[k] {
			return Meta{}, nil, Invalidf("metadata key %q is missing", k)
		}
	}
	for _, k := range dataKeys {
		if !seen[k] {
			return Meta{}, nil, Invalidf("metadata key %q is missing", k)
		}
	}
	c, err := strconv.Atoi(cycle)
	if err != nil || c < 0 || c > math.MaxInt32 {
		return Meta{}, nil, Invalidf("metadata %s = %q is not a cycle number in [0, %d]", KeyCycle, cycle, math.MaxInt32)
	}
	m.Cycle = c
	t, err := strconv.ParseFloat(tm, 64)
	if err != nil || math.IsNaN(t) || math.IsInf(t, 0) {
		return Meta{}, nil, Invalidf("metadata %s = %q is not a finite number", KeyTime, tm)
	}
	m.Time = t
	return m, data, nil
}

// ParseSize parses a positive int32-sized dimension stored under key.
func ParseSize(data map[string]string, key string) (int, error) {
	s := data[key]
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > math.MaxInt32 {
		return 0, Invalidf("metadata %s = %q is not a size in [1, %d]", key, s, math.MaxInt32)
	}
	return n, nil
}
