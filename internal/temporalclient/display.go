package temporalclient

import (
	"regexp"
	"strings"
)

// temporalTag matches the tags Temporal's errors add to their messages:
// " (type: InvalidConfig, retryable: false)", and a failed workflow's
// " (type: Assimilation, workflowID: ..., runID: ...)".
var temporalTag = regexp.MustCompile(` \(type: [^()]*\)`)

// Display shortens an error for a user: Temporal wraps a failure in
// application, activity and workflow errors whose messages each repeat
// their cause's, tagged with types, so that a model's error would print
// about four times. Display drops the tags and the "workflow execution
// error" and "activity error" wrappers and keeps each ": "-separated cause
// once, in order of first appearance:
//
//	run r1 failed: workflow execution error (type: Assimilation, ...): run r1: initialise: experiment: x (type: InvalidConfig, retryable: false): experiment: x
//
// becomes "run r1 failed: run r1: initialise: experiment: x". The full
// chain is err.Error() (latentda -v prints it).
func Display(err error) string {
	s := temporalTag.ReplaceAllString(err.Error(), "")
	var out []string
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ": ") {
		switch part {
		case "workflow execution error", "activity error":
			continue
		}
		if seen[part] {
			continue
		}
		seen[part] = true
		out = append(out, part)
	}
	return strings.Join(out, ": ")
}
