package butler_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/store/sqlite"
)

// TestPlan_ReadsTheWindowsRunsPageByPage: a task whose one run in the open
// window lies behind more than a page of another task's runs is still
// shown as done in this window, with that run's outcome.
func TestPlan_ReadsTheWindowsRunsPageByPage(t *testing.T) {
	now := time.Now().UTC()
	settings := map[string]string{
		butler.SettingTimeZone:  "UTC",
		butler.SettingStartHour: fmt.Sprint((now.Hour() + 23) % 24),
		butler.SettingEndHour:   fmt.Sprint((now.Hour() + 2) % 24),
	}
	insert := func(c *butler.Config) {
		db := c.Store.(*sqlite.DB)
		other := now.Add(-30 * time.Minute).UnixNano()
		if _, err := db.SQL().ExecContext(t.Context(), `INSERT INTO butler_run (uuid, task, trigger, state, outcome, created_at, scheduled_at, started_at, ended_at, log)
			VALUES ('other', 'Other', 'window', 'finished', 'failed', ?1, ?1, ?1, ?1 + 1000, '')`, other); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SQL().ExecContext(t.Context(), `WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i + 1 < ?1)
			INSERT INTO butler_run (uuid, task, trigger, state, outcome, created_at, scheduled_at, started_at, ended_at, log)
			SELECT printf('job-%d', i), 'Job', 'start_task', 'finished', 'succeeded', ?2 + i * 1000000, ?2 + i * 1000000, ?2 + i * 1000000, ?2 + i * 1000000 + 1000, ''
			FROM g`, 2*butler.MaxRunsPage+1, other+int64(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	f := start(t, []butler.Task{task("Job", 1, false, newProbe(false)), task("Other", 1, false, newProbe(false))}, settings, insert)
	p, err := f.m.Plan(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !p.Inside {
		t.Fatalf("the window %s..%s is not open at %s", p.Open, p.Close, now)
	}
	for _, e := range p.Tasks {
		want := map[butler.TaskName]butler.Outcome{"Job": butler.OutcomeSucceeded, "Other": butler.OutcomeFailed}[e.Task]
		if e.Decision != butler.PlanDone || e.Outcome != want {
			t.Errorf("%s: %s %q (%s), want done, %s", e.Task, e.Decision, e.Outcome, e.Reason, want)
		}
	}
}
