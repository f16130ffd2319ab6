package store

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Keep says which cycles of an ensemble a batch of cycles keeps the members
// of; the cycles whose members are not kept keep the ensemble's mean and
// spread. Its zero value keeps every cycle.
type Keep struct {
	// Every keeps the members of the cycles divisible by Every (0 or 1:
	// every cycle).
	Every int
	// MeanOnly keeps no members, only the mean and the spread.
	MeanOnly bool
}

// Retention says which ensembles a batch of cycles keeps (the config's
// store section); truths, observations, estimates and diagnostics are
// always kept, and so is the analysis ensemble of a batch's last cycle,
// which the next batch starts from. The zero value keeps everything.
type Retention struct {
	Forecast, Analysis, Latent Keep
}

// ParseKeep parses a Keep as the config writes it: "all", "mean" (means
// and spread only) or "every K" with an integer K ≥ 1.
func ParseKeep(s string) (Keep, error) {
	switch s {
	case "all":
		return Keep{}, nil
	case "mean":
		return Keep{MeanOnly: true}, nil
	}
	if rest, ok := strings.CutPrefix(s, "every "); ok {
		k, err := strconv.Atoi(rest)
		if err == nil && k >= 1 && k <= math.MaxInt32 {
			return Keep{Every: k}, nil
		}
	}
	return Keep{}, fmt.Errorf("%q: want all, mean (mean and spread only) or every K (K ≥ 1: the members of every K-th cycle)", s)
}

// String formats k as ParseKeep reads it.
func (k Keep) String() string {
	switch {
	case k.MeanOnly:
		return "mean"
	case k.Every <= 0:
		return "all"
	}
	return "every " + strconv.Itoa(k.Every)
}

// keeps reports whether the members of cycle c are kept.
func (k Keep) keeps(c int) bool { return !k.MeanOnly && (k.Every <= 1 || c%k.Every == 0) }

// ErrNotKept is matched (with errors.Is) by the error of a read of an
// ensemble that the run's retention policy did not keep.
var ErrNotKept = errors.New("store: ensemble not kept")

// NotKeptError reports an ensemble a run did not keep.
type NotKeptError struct {
	Cycle int
	Field Field
	// Setting is the retention setting that dropped it: "store.analysis:
	// every 10".
	Setting string
	// Before and After are the nearest cycles before and after Cycle
	// whose members of the field are kept; -1 if there is none.
	Before, After int
}

func (e *NotKeptError) Error() string {
	msg := fmt.Sprintf("store: cycle %d %s ensemble not kept (%s)", e.Cycle, strings.ReplaceAll(string(e.Field), "_", " "), e.Setting)
	switch {
	case e.Before >= 0 && e.After >= 0:
		msg += fmt.Sprintf("; the nearest cycles kept are %d and %d", e.Before, e.After)
	case e.Before >= 0:
		msg += fmt.Sprintf("; the nearest cycle kept is %d", e.Before)
	case e.After >= 0:
		msg += fmt.Sprintf("; the nearest cycle kept is %d", e.After)
	}
	return msg
}

func (e *NotKeptError) Is(target error) bool { return target == ErrNotKept }

// formatRetention is the value of latentda.retention for the ensembles of
// fields: "forecast: all; analysis: every 10".
func formatRetention(fields []Field, keep Retention) string {
	var parts []string
	for _, f := range fields {
		if k, ok := keep.of(f); ok {
			parts = append(parts, string(f)+": "+k.String())
		}
	}
	return strings.Join(parts, "; ")
}

// retentionSetting finds field's setting in a latentda.retention value, as
// the config names it ("store.analysis: every 10").
func retentionSetting(value string, f Field) string {
	for part := range strings.SplitSeq(value, "; ") {
		if name, k, ok := strings.Cut(part, ": "); ok && name == string(f) {
			return "store." + configName(f) + ": " + k
		}
	}
	return "store." + configName(f) + ": unknown"
}

// of returns the Keep of an ensemble field.
func (r Retention) of(f Field) (Keep, bool) {
	switch f {
	case FieldForecast:
		return r.Forecast, true
	case FieldAnalysis:
		return r.Analysis, true
	case FieldLatentForecast, FieldLatentAnalysis:
		return r.Latent, true
	}
	return Keep{}, false
}

// configName is the config's name of a field's setting.
func configName(f Field) string {
	if f == FieldLatentForecast || f == FieldLatentAnalysis {
		return "latent"
	}
	return string(f)
}
