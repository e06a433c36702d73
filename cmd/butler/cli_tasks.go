package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/client"
)

// taskRow is one task of `butler tasks`: the API's task, its latest
// finished run and its line of tonight's plan.
type taskRow struct {
	apitype.ButlerTask
	State   string            `json:"state"`
	LastRun *apitype.Run      `json:"lastRun,omitempty"`
	Plan    *apitype.PlanTask `json:"plan,omitempty"`
}

// historyPage is how many runs `butler tasks` reads at once to find each
// task's latest.
const historyPage = 200

func (c *cli) tasksCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tasks",
		Short: "List the tasks with their state, last run and next run",
		Long: `List the tasks the server offers: enabled, interval (days), randomized start,
state (running, queued, scheduled or idle), the end and outcome of the last
run, and the next run (an instant, "random HH:MM-HH:MM" inside the window, or
the day the task is next due). Times are local.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cn, err := c.connect()
			if err != nil {
				return err
			}
			ctx := ctxOf(cmd)
			rows, plan, err := c.taskRows(ctx, cn)
			if err != nil {
				return cn.fail(err)
			}
			out := cmd.OutOrStdout()
			if cn.json {
				return printJSON(out, rows)
			}
			t := &table{header: []string{"NAME", "ENABLED", "INTERVAL", "RANDOM", "STATE", "LAST RUN", "LAST OUTCOME", "NEXT"}}
			for _, r := range rows {
				last, outcome := "-", "-"
				if r.LastRun != nil {
					last = showTime(firstSet(r.LastRun.EndedAt, r.LastRun.StartedAt, r.LastRun.CreatedAt))
					outcome = r.LastRun.Outcome
				}
				t.add(plain(r.Name), styled(yesNo(bool(r.Enabled))), plain(fmt.Sprintf("%dd", r.Interval)),
					plain(yesNo(bool(r.ScheduleRandomized))), styled(r.State), plain(last), styled(outcome), plain(nextRun(r.Plan, plan, time.Local, "day ")))
			}
			return t.write(out, newPainter(out, c.getenv))
		},
	}
	c.clientFlags(cmd)
	return cmd
}

// taskRows reads the tasks, the plan and the history, and joins them.
func (c *cli) taskRows(ctx context.Context, cn *conn) ([]taskRow, *apitype.PlanContainer, error) {
	tasks, err := cn.GetButlerTasks(ctx)
	if err != nil {
		return nil, nil, err
	}
	// A Plex Media Server has neither a plan nor a history: its tasks are
	// listed without them.
	plan, err := cn.Plan(ctx)
	if errors.Is(err, client.ErrNotFound) {
		plan, err = &apitype.PlanContainer{}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	runs, err := cn.Runs(ctx, client.RunsQuery{Limit: historyPage})
	if errors.Is(err, client.ErrNotFound) {
		runs, err = nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	// The last run is the newest that ran; a skipped run (a start when the
	// task was not due) counts only when no run ran.
	last := lastRuns{}
	state := map[string]string{}
	for _, r := range runs { // newest first
		if r.State == "finished" {
			last.see(r)
		} else if _, ok := state[r.Task]; !ok {
			state[r.Task] = r.State
		}
	}
	rows := make([]taskRow, 0, len(tasks.Tasks))
	for _, t := range tasks.Tasks {
		row := taskRow{ButlerTask: t, State: "idle"}
		if len(runs) == historyPage {
			// The task's last run may be older than the page.
			if err := last.complete(ctx, cn, t.Name); err != nil {
				return nil, nil, err
			}
		}
		if r, ok := last[t.Name]; ok {
			row.LastRun = &r
		}
		if s, ok := state[t.Name]; ok {
			row.State = s
		}
		for i := range plan.Task {
			if plan.Task[i].Name == t.Name {
				row.Plan = &plan.Task[i]
				switch row.Plan.Decision {
				case "running", "stopping", "queued", "scheduled":
					row.State = row.Plan.Decision
				}
			}
		}
		rows = append(rows, row)
	}
	return rows, plan, nil
}

// lastRuns holds each task's last run: the newest that ran, else the
// newest skipped one.
type lastRuns map[string]apitype.Run

// ranOutcomes are the outcomes of a run that ran: all but skipped.
var ranOutcomes = []string{"succeeded", "failed", "stopped", "timed_out", "interrupted"}

// see takes a finished run, newest first, as its task's last run unless one
// that is better is already known.
func (l lastRuns) see(r apitype.Run) {
	if r.State != "finished" {
		return
	}
	if prev, ok := l[r.Task]; !ok || (prev.Outcome == "skipped" && r.Outcome != "skipped") {
		l[r.Task] = r
	}
}

// ran reports whether the task's last run known is one that ran.
func (l lastRuns) ran(task string) bool {
	r, ok := l[task]
	return ok && r.Outcome != "skipped"
}

// complete finds the task's last run when the newest page of every task's
// runs held no run of it that ran: it reads the task's own newest runs (one
// request), and when those are a full page without a run that ran (a wall
// of skipped starts), the task's newest run of each outcome that means it
// ran (one request each). At most 1+len(ranOutcomes) requests per task.
func (l lastRuns) complete(ctx context.Context, cn *conn, task string) error {
	if l.ran(task) {
		return nil
	}
	own, err := cn.Runs(ctx, client.RunsQuery{Task: client.TaskName(task), Limit: historyPage})
	if err != nil {
		return err
	}
	for _, r := range own {
		l.see(r)
	}
	if l.ran(task) || len(own) < historyPage {
		return nil // found, or the task's whole history was read
	}
	for _, o := range ranOutcomes {
		rs, err := cn.Runs(ctx, client.RunsQuery{Task: client.TaskName(task), Outcome: o, Limit: 1})
		if err != nil {
			return err
		}
		if len(rs) > 0 && (!l.ran(task) || rs[0].ID > l[task].ID) { // ids grow with time
			l[task] = rs[0]
		}
	}
	return nil
}

// hourMinute formats an API time as HH:MM in loc.
func hourMinute(s string, loc *time.Location) string {
	t := parseAPITime(s)
	if t.IsZero() {
		return "?"
	}
	return t.In(loc).Format("15:04")
}

// showTimeIn formats an API time in loc; "-" when there is none.
func showTimeIn(s string, loc *time.Location) string {
	t := parseAPITime(s)
	if t.IsZero() {
		return "-"
	}
	return t.In(loc).Format(timeLayout)
}

// nextRun says when a task runs next, after its line of the plan, with
// instants in loc; a day it is next due is a butler day (dayLabel before
// it).
func nextRun(e *apitype.PlanTask, p *apitype.PlanContainer, loc *time.Location, dayLabel string) string {
	if e == nil {
		return "-"
	}
	switch e.Decision {
	case "scheduled":
		return showTimeIn(e.At, loc)
	case "queued":
		return "now"
	case "runs":
		if bool(e.Random) {
			return fmt.Sprintf("random %s-%s", hourMinute(p.Open, loc), hourMinute(p.Close, loc))
		}
		if e.At != "" {
			return showTimeIn(e.At, loc)
		}
	case "not_due":
		if e.NextDue != "" {
			return dayLabel + e.NextDue
		}
	}
	return "-"
}

// serverZone is the server's ButlerTimeZone, and how to name it; this
// computer's zone, saying so, when the setting cannot be read or loaded.
func serverZone(ctx context.Context, cn *conn) (*time.Location, string) {
	s, err := cn.Setting(ctx, "ButlerTimeZone")
	if err != nil {
		return time.Local, "this computer's time (the server's ButlerTimeZone could not be read)"
	}
	loc, err := time.LoadLocation(s.Value.Text)
	if err != nil || s.Value.Text == "" {
		return time.Local, fmt.Sprintf("this computer's time (the server's ButlerTimeZone %q is not known here)", s.Value.Text)
	}
	return loc, loc.String()
}

// zoneAt names loc at t: "Europe/Berlin (CET)", or "UTC".
func zoneAt(name string, t time.Time) string {
	abbr, _ := t.Zone()
	if t.IsZero() || abbr == name || strings.HasPrefix(abbr, "+") || strings.HasPrefix(abbr, "-") {
		return name
	}
	return name + " (" + abbr + ")"
}

func (c *cli) startCmd() *cobra.Command {
	var all, now, wait bool
	cmd := &cobra.Command{
		Use:   "start TASK | --all",
		Short: "Start a task, or every enabled task",
		Long: `Start a task as POST /butler/TASK does: it runs now if it is due, is
scheduled in the window if it is randomized and the window is open, and is
recorded as skipped when it is not due. A task disabled in the settings
starts by the same rules: its setting only keeps it out of the nightly plan
and of --all. --now starts it now whatever its day or window. --wait follows
the run to its end and exits 1 unless it succeeded.

--all starts every enabled task under the start-all rules (POST /butler).`,
		Example: `  butler start BackupDatabase
  butler start OptimizeDatabase --now --wait
  butler start --all`,
		Args:              nArgs(0, 1),
		ValidArgsFunction: c.completeTasks,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case all && len(args) > 0:
				return usageErr("give a task or --all, not both")
			case all && (now || wait):
				return usageErr("--now and --wait work with one task, not with --all")
			case !all && len(args) == 0:
				return usageErr("give the task to start (`butler tasks` lists them), or --all")
			}
			cn, err := c.connect()
			if err != nil {
				return err
			}
			ctx := ctxOf(cmd)
			out := cmd.OutOrStdout()
			if all {
				res, err := cn.StartAllTasks(ctx)
				if err != nil {
					return cn.fail(err)
				}
				if cn.json {
					// POST /butler answers with its status alone.
					return printJSON(out, statusResult{res.StatusCode})
				}
				_, err = fmt.Fprintln(out, "started every enabled task under the start-all rules; `butler tasks` shows what each does")
				return err
			}
			name := client.TaskName(args[0])
			var opts []client.StartOption
			if now {
				opts = append(opts, client.Force())
			}
			if !wait {
				res, err := cn.StartTask(ctx, name, opts...)
				if err != nil {
					return startFailure(cn, name, err)
				}
				if cn.json {
					return printJSON(out, startJSON(name, res))
				}
				_, err = fmt.Fprintln(out, startLine(name, res, newPainter(out, c.getenv)))
				return err
			}
			return c.startAndWait(ctx, cmd, cn, name, opts)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "start every enabled task (POST /butler)")
	cmd.Flags().BoolVar(&now, "now", false, "start it now whatever its day or window (?force=1)")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the run to its end; exit 1 unless it succeeded")
	c.clientFlags(cmd)
	return cmd
}

// startFailure is the error of a refused start, with what to do about it.
func startFailure(cn *conn, name client.TaskName, err error) error {
	// A Butler older than this one refuses a disabled task with 409.
	if errors.Is(err, client.ErrDisabled) {
		var ce *client.Error
		errors.As(err, &ce)
		return &exitError{1, fmt.Errorf("%s; with the CLI: `butler start %s --now`", ce.Message, name)}
	}
	// The start has already returned (cli_wait.go calls this too): a
	// short context of its own reads the task list.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return taskNotFound(ctx, cn, name, err)
}

// startResult is the JSON of a start.
type startResult struct {
	Task    string    `json:"task"`
	Status  int       `json:"status"`
	Outcome string    `json:"outcome"`
	RunID   int64     `json:"runID,omitempty"`
	RunAt   time.Time `json:"runAt,omitzero"`
	Reason  string    `json:"reason,omitempty"`
}

func startJSON(name client.TaskName, r *client.StartResponse) startResult {
	return startResult{Task: string(name), Status: r.StatusCode, Outcome: r.Outcome, RunID: r.RunID, RunAt: r.RunAt, Reason: r.Reason}
}

// startLine says what a start did: "BackupDatabase: started (run 4)".
func startLine(name client.TaskName, r *client.StartResponse, p painter) string {
	s := fmt.Sprintf("%s: %s", name, p.paint(outcomeStyle(r.Outcome), r.Outcome))
	if r.Outcome == client.OutcomeScheduled && !r.RunAt.IsZero() {
		s += " at " + r.RunAt.Local().Format(timeLayout)
	}
	if r.RunID != 0 {
		s += fmt.Sprintf(" (run %d)", r.RunID)
	}
	if r.Reason != "" {
		s += ": " + r.Reason
	}
	if r.Outcome == client.OutcomeSkipped {
		s += fmt.Sprintf("; `butler start %s --now` runs it anyway", name)
	}
	return s
}

func (c *cli) stopCmd() *cobra.Command {
	var all bool
	var runID int64
	cmd := &cobra.Command{
		Use:   "stop TASK | --all | --run N",
		Short: "Stop a task's run, or every run",
		Long: `Stop the task's running run, or remove its scheduled or queued one
(DELETE /butler/TASK). --all stops every running run and removes every
waiting one (DELETE /butler). --run N removes the scheduled or queued run
N, as butler history numbers it (DELETE /butler/runs/N); it never stops a
run that has started.`,
		Example: `  butler stop BackupDatabase
  butler stop --all
  butler stop --run 12`,
		Args:              nArgs(0, 1),
		ValidArgsFunction: c.completeTasks,
		RunE: func(cmd *cobra.Command, args []string) error {
			byRun := cmd.Flags().Changed("run")
			given := len(args)
			if all {
				given++
			}
			if byRun {
				given++
			}
			switch {
			case given > 1:
				return usageErr("give one of a task, --all or --run N")
			case given == 0:
				return usageErr("give the task to stop, --all, or --run N")
			case byRun && runID < 1:
				return usageErr("--run %d: want a run number, as butler history lists them", runID)
			}
			cn, err := c.connect()
			if err != nil {
				return err
			}
			ctx := ctxOf(cmd)
			out := cmd.OutOrStdout()
			if byRun {
				return removeRun(ctx, cn, runID, out, newPainter(out, c.getenv))
			}
			if all {
				// What there is to stop, read first: DELETE /butler says
				// nothing of what it did.
				running, waiting, known, err := activeTasks(ctx, cn)
				if err != nil {
					return cn.fail(err)
				}
				res, err := cn.StopAllTasks(ctx)
				if err != nil {
					return cn.fail(err)
				}
				// The server answers once every stop is durable, after
				// waiting a moment for the work to stop: a stopped run
				// still among the activities then is still stopping.
				var stopping []string
				if known && len(running) > 0 {
					if stopping, err = stillStopping(ctx, cn, running); err != nil {
						return cn.fail(err)
					}
				}
				if cn.json {
					return printJSON(out, stopAllJSON(res, running, waiting, stopping, known))
				}
				_, err = fmt.Fprintln(out, stopAllLine(running, waiting, stopping, known))
				return err
			}
			name := client.TaskName(args[0])
			res, err := cn.StopTask(ctx, name)
			if err != nil {
				return taskNotFound(ctx, cn, name, err)
			}
			if cn.json {
				return printJSON(out, struct {
					Task    string `json:"task"`
					Status  int    `json:"status"`
					Outcome string `json:"outcome"`
					RunID   int64  `json:"runID,omitempty"`
				}{string(name), res.StatusCode, res.Outcome, res.RunID})
			}
			p := newPainter(out, c.getenv)
			line := fmt.Sprintf("%s: %s", name, p.paint(outcomeStyle(res.Outcome), res.Outcome))
			if res.RunID != 0 {
				line += fmt.Sprintf(" (run %d)", res.RunID)
			}
			_, err = fmt.Fprintln(out, line)
			return err
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "stop every run (DELETE /butler)")
	cmd.Flags().Int64Var(&runID, "run", 0, "remove this scheduled or queued run, by its number (DELETE /butler/runs/N)")
	c.clientFlags(cmd)
	return cmd
}

// outcomes are the outcomes a run can end with.
var outcomes = []string{"succeeded", "failed", "stopped", "timed_out", "interrupted", "skipped"}

func (c *cli) historyCmd() *cobra.Command {
	var limit int
	var outcome string
	cmd := &cobra.Command{
		Use: "history [TASK]",
		// "runs" is what the API calls them (GET /butler/runs).
		SuggestFor: []string{"runs"},
		Short:      "List past and current runs, newest first",
		Example: `  butler history
  butler history BackupDatabase --limit 5
  butler history --outcome failed`,
		Args:              nArgs(0, 1),
		ValidArgsFunction: c.completeTasks,
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 1 || limit > 1000 {
				return usageErr("--limit %d: want 1 to 1000", limit)
			}
			if outcome != "" && !slices.Contains(outcomes, outcome) {
				return usageErr("--outcome %q: want one of succeeded, failed, stopped, timed_out, interrupted, skipped", outcome)
			}
			cn, err := c.connect()
			if err != nil {
				return err
			}
			q := client.RunsQuery{Outcome: outcome, Limit: limit}
			if len(args) == 1 {
				q.Task = client.TaskName(args[0])
			}
			runs, err := cn.Runs(ctxOf(cmd), q)
			if errors.Is(err, client.ErrNotFound) && q.Task != "" {
				// The server knows no such task and has no run of one:
				// the CLI's own message, with a name it may have meant.
				err, runs = nil, nil
			}
			if err != nil {
				return cn.fail(err)
			}
			out := cmd.OutOrStdout()
			if len(runs) == 0 && q.Task != "" {
				// No runs of a task the server does not offer: say so, as
				// start does, rather than "no runs".
				res, err := cn.GetButlerTasks(ctxOf(cmd))
				if err != nil {
					return cn.fail(err)
				}
				offered := make([]string, 0, len(res.Tasks))
				for _, t := range res.Tasks {
					offered = append(offered, t.Name)
				}
				if !slices.Contains(offered, string(q.Task)) {
					return &exitError{1, unknownTaskError(string(q.Task), offered)}
				}
			}
			if cn.json {
				return printJSON(out, runs)
			}
			if len(runs) == 0 {
				what := "no runs"
				switch {
				case q.Task != "" && outcome != "":
					what = fmt.Sprintf("no %s runs of %s", outcome, q.Task)
				case q.Task != "":
					what = "no runs of " + string(q.Task)
				case outcome != "":
					what = fmt.Sprintf("no %s runs", outcome)
				}
				_, err := fmt.Fprintln(out, what)
				return err
			}
			t := &table{header: []string{"RUN", "TASK", "TRIGGER", "OUTCOME", "CREATED", "STARTED", "DURATION", "DETAIL"}}
			for _, r := range runs {
				detail := firstSet(runWhy(r.Reason, r.Error), r.Summary)
				if r.State != "finished" && r.Step != "" {
					detail = strings.TrimSpace(percent(r.Progress) + " " + r.Step)
				}
				t.add(plain(strconv.FormatInt(r.ID, 10)), plain(r.Task), plain(r.Trigger), styled(firstSet(r.Outcome, r.State)),
					plain(showTime(r.CreatedAt)), plain(showTime(r.StartedAt)), plain(runDuration(r.StartedAt, r.EndedAt)), plain(orDash(detail)))
			}
			return t.write(out, newPainter(out, c.getenv))
		},
	}
	cmd.Flags().IntVarP(&limit, "limit", "n", 20, "show at most this many runs (1 to 1000)")
	cmd.Flags().StringVar(&outcome, "outcome", "", "only runs with this outcome: "+fmt.Sprint(outcomes))
	_ = cmd.RegisterFlagCompletionFunc("outcome", cobra.FixedCompletions(outcomes, cobra.ShellCompDirectiveNoFileComp))
	c.clientFlags(cmd)
	return cmd
}

func (c *cli) planCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show tonight's plan: what each task does in the maintenance window, and why",
		Long: `Show the open or next maintenance window and, for each task, what it does in
it and why. Instants are shown in the server's zone (ButlerTimeZone), which
the first line names. A day a task is next due is a butler day: the date its
window opens; a run started outside a window counts for the next window's day
(docs/scheduling.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cn, err := c.connect()
			if err != nil {
				return err
			}
			p, err := cn.Plan(ctxOf(cmd))
			if err != nil {
				return cn.fail(err)
			}
			out := cmd.OutOrStdout()
			if cn.json {
				return printJSON(out, p)
			}
			loc, zone := serverZone(ctxOf(cmd), cn)
			which := "next window"
			if bool(p.Inside) {
				which = "window (open now)"
			}
			open := parseAPITime(p.Open).In(loc)
			if _, err := fmt.Fprintf(out, "%s: %s to %s, %s\n\n", which, open.Format(timeLayout), showTimeIn(p.Close, loc), zoneAt(zone, open)); err != nil {
				return err
			}
			t := &table{header: []string{"TASK", "DECISION", "WHEN", "REASON"}}
			days := false
			for i := range p.Task {
				e := &p.Task[i]
				days = days || e.NextDue != "" || strings.Contains(e.Reason, "butler day")
				t.add(plain(e.Name), styled(e.Decision), plain(nextRun(e, p, loc, "day ")), plain(orDash(e.Reason)))
			}
			if err := t.write(out, newPainter(out, c.getenv)); err != nil {
				return err
			}
			if days {
				// A run outside a window counts for the next window's
				// date: a backup run by hand in the afternoon of the 30th,
				// before a window opening at 02:00 on the 1st, counts for
				// the 1st.
				_, err = fmt.Fprintf(out, "\nA butler day is the date a window opens; a run outside a window counts for the next window's (this window's: %s).\n", p.Day)
			}
			return err
		},
	}
	c.clientFlags(cmd)
	return cmd
}

func (c *cli) logCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "log RUN",
		Short: "Print the log a run kept: its task's messages and its command's output",
		Example: `  butler history Nightly --limit 1
  butler log 42`,
		Args: nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id < 1 {
				return usageErr("run %q: want a run number, as butler history lists them", args[0])
			}
			cn, err := c.connect()
			if err != nil {
				return err
			}
			text, err := cn.RunLog(ctxOf(cmd), id)
			if err != nil {
				return cn.fail(err)
			}
			out := cmd.OutOrStdout()
			if cn.json {
				return printJSON(out, map[string]any{"run": id, "log": text})
			}
			if text == "" {
				_, err := fmt.Fprintln(out, "(the run kept no log)")
				return err
			}
			_, err = io.WriteString(out, text)
			return err
		},
	}
	c.clientFlags(cmd)
	return cmd
}

// removeRun removes the waiting run id (butler stop --run).
func removeRun(ctx context.Context, cn *conn, id int64, out io.Writer, p painter) error {
	res, err := cn.RemoveRun(ctx, id)
	var ce *client.Error
	switch {
	case errors.Is(err, client.ErrNotWaiting) && errors.As(err, &ce):
		return &exitError{1, fmt.Errorf("%s; `butler stop TASK` stops a running run", ce.Message)}
	case errors.Is(err, client.ErrNotFound) && errors.As(err, &ce):
		return &exitError{1, fmt.Errorf("%s (`butler history` lists the runs and their numbers)", ce.Message)}
	case err != nil:
		return cn.fail(err)
	}
	if cn.json {
		return printJSON(out, struct {
			Run     int64  `json:"run"`
			Status  int    `json:"status"`
			Outcome string `json:"outcome"`
		}{id, res.StatusCode, res.Outcome})
	}
	_, err = fmt.Fprintf(out, "run %d: %s\n", id, p.paint(outcomeStyle(res.Outcome), res.Outcome))
	return err
}

// activeTasks reads which tasks have a running or stopping run (the
// activities) and which a scheduled or queued one (the plan). known is
// false when the server has no plan (a Plex Media Server).
func activeTasks(ctx context.Context, cn *conn) (running, waiting []string, known bool, err error) {
	acts, err := cn.Activities(ctx)
	if err != nil {
		return nil, nil, false, err
	}
	for _, a := range acts {
		if a.Context != nil && !slices.Contains(running, a.Context.TaskName) {
			running = append(running, a.Context.TaskName)
		}
	}
	plan, err := cn.Plan(ctx)
	if errors.Is(err, client.ErrNotFound) {
		return running, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	for _, e := range plan.Task {
		switch e.Decision {
		case "scheduled", "queued":
			waiting = append(waiting, e.Name)
		case "running", "stopping":
			if !slices.Contains(running, e.Name) {
				running = append(running, e.Name)
			}
		}
	}
	return running, waiting, true, nil
}

// statusResult is the JSON of an answer that holds nothing but its status
// (POST /butler).
type statusResult struct {
	Status int `json:"status"`
}

// stillStopping returns those of the tasks whose run is still among the
// activities: told to stop, its work has not stopped yet.
func stillStopping(ctx context.Context, cn *conn, tasks []string) ([]string, error) {
	acts, err := cn.Activities(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range acts {
		if a.Context != nil && slices.Contains(tasks, a.Context.TaskName) && !slices.Contains(out, a.Context.TaskName) {
			out = append(out, a.Context.TaskName)
		}
	}
	return out, nil
}

// stopAllResult is the JSON of `butler stop --all`: the tasks whose run it
// stopped and those whose waiting run it removed, from what was active
// before it, and those whose stopped run is still stopping; all are left
// out when the server cannot say (a Plex Media Server, which has no plan).
type stopAllResult struct {
	Status   int      `json:"status"`
	Stopped  []string `json:"stopped,omitzero"`
	Removed  []string `json:"removed,omitzero"`
	Stopping []string `json:"stopping,omitzero"`
}

func stopAllJSON(res *client.Response, running, waiting, stopping []string, known bool) stopAllResult {
	r := stopAllResult{Status: res.StatusCode}
	if known {
		r.Stopped = append([]string{}, running...)
		r.Removed = append([]string{}, waiting...)
		r.Stopping = append([]string{}, stopping...)
	}
	return r
}

// stopAllLine says what `butler stop --all` did, from what was active
// before it, and which stopped runs are still stopping.
func stopAllLine(running, waiting, stopping []string, known bool) string {
	if !known {
		return "stopped every running run and removed every scheduled or queued one"
	}
	if len(running) == 0 && len(waiting) == 0 {
		return "nothing was running, scheduled or queued: nothing to stop"
	}
	var parts []string
	if len(running) > 0 {
		parts = append(parts, "stopped the run of "+strings.Join(running, ", "))
	}
	if len(waiting) > 0 {
		parts = append(parts, "removed the waiting run of "+strings.Join(waiting, ", "))
	}
	if len(stopping) > 0 {
		parts = append(parts, "the run of "+strings.Join(stopping, ", ")+" is still stopping (`butler activities` shows it until it ends)")
	}
	return strings.Join(parts, "; ")
}
