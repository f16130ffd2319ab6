package temporalclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/latentda/latentda/activities/live"
	"github.com/latentda/latentda/workflows"
)

// OverlapPolicies are the overlap policies `schedule create` offers. Those
// that run two cycles of a run at once (allow-all) or kill a running one
// (cancel-other, terminate-other) are left out: a run's cycles form a chain.
var OverlapPolicies = map[string]enumspb.ScheduleOverlapPolicy{
	"skip":       enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	"buffer-one": enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE,
	"buffer-all": enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL,
}

// OverlapName is the name of an overlap policy, as `schedule create`
// takes it.
func OverlapName(p enumspb.ScheduleOverlapPolicy) string {
	for name, v := range OverlapPolicies {
		if v == p {
			return name
		}
	}
	return strings.ToLower(strings.TrimPrefix(p.String(), "ScheduleOverlapPolicy"))
}

// ScheduleOptions builds the schedule: an interval spec aligned on the
// run's start, from cycle 1 to the config's last cycle.
func ScheduleOptions(id, taskQueue string, in workflows.CycleInput, overlap enumspb.ScheduleOverlapPolicy, catchup time.Duration, pauseOnFailure, paused bool) client.ScheduleOptions {
	offset := time.Duration(in.Start.UnixNano() % int64(in.Interval))
	if offset < 0 {
		offset += in.Interval
	}
	cfg := in.Config
	return client.ScheduleOptions{
		ID: id,
		Spec: client.ScheduleSpec{
			Intervals: []client.ScheduleIntervalSpec{{Every: in.Interval, Offset: offset}},
			StartAt:   in.Start.Add(in.Interval),
			// Half an interval past the last cycle, so that it is inside
			// whether or not the end is inclusive.
			EndAt: in.Start.Add(time.Duration(cfg.Cycles)*in.Interval + in.Interval/2),
		},
		Action: &client.ScheduleWorkflowAction{
			ID:                  live.CycleWorkflowID(in.RunID),
			Workflow:            workflows.Cycle,
			Args:                []any{in},
			TaskQueue:           taskQueue,
			WorkflowTaskTimeout: workflows.WorkflowTaskTimeout,
			TypedSearchAttributes: temporal.NewSearchAttributes(
				workflows.AttrModel.ValueSet(cfg.Model.Name),
				workflows.AttrStatus.ValueSet(workflows.PhaseInitializing),
			),
			StaticSummary: "live " + StaticSummary(cfg),
		},
		Overlap:        overlap,
		CatchupWindow:  catchup,
		PauseOnFailure: pauseOnFailure,
		Paused:         paused,
		Note:           fmt.Sprintf("live run %s, observations from %s", in.RunID, in.ObsDir),
	}
}

// ScheduleInput reads a schedule's cycle workflow argument back.
func ScheduleInput(desc *client.ScheduleDescription) (workflows.CycleInput, error) {
	var in workflows.CycleInput
	act, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
	if !ok || len(act.Args) != 1 {
		return in, errors.New("not a latentda live-run schedule (no cycle workflow action)")
	}
	p, ok := act.Args[0].(*commonpb.Payload)
	if !ok {
		return in, fmt.Errorf("unexpected action argument %T", act.Args[0])
	}
	if err := converter.GetDefaultDataConverter().FromPayload(p, &in); err != nil {
		return in, fmt.Errorf("decode the cycle workflow's argument: %w", err)
	}
	return in, nil
}

// ScheduleView is a live run's schedule as `schedule describe` prints it.
type ScheduleView struct {
	ID             string          `json:"id"`
	RunID          string          `json:"run_id"`
	ObsDir         string          `json:"obs_dir"`
	Start          time.Time       `json:"start"`
	Interval       string          `json:"interval"`
	Wait           string          `json:"wait"`
	Cycles         int             `json:"cycles"`
	Overlap        string          `json:"overlap"`
	CatchupWindow  string          `json:"catchup_window"`
	PauseOnFailure bool            `json:"pause_on_failure"`
	Paused         bool            `json:"paused"`
	Note           string          `json:"note"`
	Actions        int             `json:"actions"`
	MissedCatchup  int             `json:"missed_catchup_window"`
	SkippedOverlap int             `json:"skipped_overlap"`
	Running        []string        `json:"running"`
	Recent         []ScheduledTick `json:"recent"`
	Next           []ScheduledTick `json:"next"`
}

// ScheduledTick is one action of a schedule: a cycle and its nominal
// time, and the workflow started for it.
type ScheduledTick struct {
	Cycle      int       `json:"cycle"`
	Nominal    time.Time `json:"nominal"`
	WorkflowID string    `json:"workflow_id,omitempty"`
	RunID      string    `json:"run_id,omitempty"` // of the workflow's first run
	// Outcome is the cycle workflow's LatentdaStatus: its outcome
	// (assimilated, forecast-only, superseded, …) once done, its phase
	// while it runs; set by CycleOutcomes.
	Outcome string `json:"outcome,omitempty"`
}

// CycleOutcomes sets the Outcome of each tick that started a workflow
// from the workflow's search attributes; a tick whose workflow the server
// no longer has (past its retention) keeps none.
func CycleOutcomes(ctx context.Context, c client.Client, ticks []ScheduledTick) {
	for i, t := range ticks {
		if t.WorkflowID == "" {
			continue
		}
		if st, err := DescribeStatus(ctx, c, t.WorkflowID); err == nil {
			ticks[i].Outcome = st.Phase
		}
	}
}

// DescribeSchedule summarises a live run's schedule for `schedule
// describe`.
func DescribeSchedule(id string, desc *client.ScheduleDescription) (ScheduleView, error) {
	in, err := ScheduleInput(desc)
	if err != nil {
		return ScheduleView{}, fmt.Errorf("schedule %s: %w", id, err)
	}
	v := ScheduleView{
		ID: id, RunID: in.RunID, ObsDir: in.ObsDir, Start: in.Start, Interval: in.Interval.String(), Wait: in.Wait.String(),
		Cycles: in.Config.Cycles, Actions: desc.Info.NumActions, MissedCatchup: desc.Info.NumActionsMissedCatchupWindow,
		SkippedOverlap: desc.Info.NumActionsSkippedOverlap, Running: []string{},
	}
	if p := desc.Schedule.Policy; p != nil {
		v.Overlap, v.CatchupWindow, v.PauseOnFailure = OverlapName(p.Overlap), p.CatchupWindow.String(), p.PauseOnFailure
	}
	if s := desc.Schedule.State; s != nil {
		v.Paused, v.Note = s.Paused, Display(errors.New(s.Note))
	}
	for _, r := range desc.Info.RunningWorkflows {
		v.Running = append(v.Running, r.WorkflowID)
	}
	for _, a := range desc.Info.RecentActions {
		tick := ScheduledTick{Cycle: in.CycleAt(a.ScheduleTime), Nominal: a.ScheduleTime.UTC()}
		if a.StartWorkflowResult != nil {
			tick.WorkflowID, tick.RunID = a.StartWorkflowResult.WorkflowID, a.StartWorkflowResult.FirstExecutionRunID
		}
		v.Recent = append(v.Recent, tick)
	}
	for _, t := range desc.Info.NextActionTimes {
		v.Next = append(v.Next, ScheduledTick{Cycle: in.CycleAt(t), Nominal: t.UTC()})
	}
	return v, nil
}

// BackfillRange is the schedule time range that holds exactly the nominal
// times of cycles from..to.
func BackfillRange(in workflows.CycleInput, from, to int) client.ScheduleBackfill {
	return client.ScheduleBackfill{
		Start:   in.Start.Add(time.Duration(from)*in.Interval - in.Interval/2),
		End:     in.Start.Add(time.Duration(to)*in.Interval + in.Interval/2),
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL,
	}
}
