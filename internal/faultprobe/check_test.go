package faultprobe

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler/apitype"
)

// t0 is the base instant of the hand-made logs.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// at returns t0 plus ms milliseconds.
func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// ns formats at(ms) as a log line's unix nanoseconds.
func ns(ms int) string { return fmt.Sprint(at(ms).UnixNano()) }

// mustParse parses a hand-made log for task; the text uses {N} for at(N).
func mustParse(t *testing.T, text string) []Line {
	t.Helper()
	var b strings.Builder
	for {
		i := strings.IndexByte(text, '{')
		if i < 0 {
			b.WriteString(text)
			break
		}
		j := strings.IndexByte(text[i:], '}')
		var ms int
		if _, err := fmt.Sscanf(text[i+1:i+j], "%d", &ms); err != nil {
			t.Fatalf("bad placeholder %q", text[i:i+j+1])
		}
		b.WriteString(text[:i])
		b.WriteString(ns(ms))
		text = text[i+j+1:]
	}
	lines, bad, err := ParseLog("test.log", strings.NewReader(b.String()))
	if err != nil || len(bad) > 0 {
		t.Fatalf("parse: %v %v", err, bad)
	}
	return lines
}

func run(id int64, task, outcome string, start, end int) Run {
	r := Run{ID: id, Task: task, State: "finished", Outcome: outcome}
	if start >= 0 {
		r.StartedAt = at(start)
	}
	if end >= 0 {
		r.EndedAt = at(end)
	}
	return r
}

// expect checks that the report has exactly the violations that contain
// each of want, in any order, one each.
func expect(t *testing.T, rep Report, want ...string) {
	t.Helper()
	left := append([]string(nil), rep.Violations...)
	for _, w := range want {
		found := -1
		for i, v := range left {
			if strings.Contains(v, w) {
				found = i
				break
			}
		}
		if found < 0 {
			t.Errorf("no violation contains %q; got:\n%s", w, strings.Join(rep.Violations, "\n"))
			continue
		}
		left = append(left[:found], left[found+1:]...)
	}
	for _, v := range left {
		t.Errorf("unexpected violation: %s", v)
	}
}

// cleanLog: a quick run that succeeded, then a stubborn one stopped with
// SIGKILL (no end lines).
const cleanLog = `start 100 100 {10} leader quick
start 101 100 {12} child 100
end 101 {310} quit
end 100 {311} exit0
start 200 200 {1010} leader stubborn
start 201 200 {1012} child 200
signal 200 {1500} SIGTERM ignored
signal 201 {1500} SIGTERM ignored
`

func TestFaultCheck_Clean(t *testing.T) {
	ev := Evidence{
		Lines: map[string][]Line{"T": mustParse(t, cleanLog), "Idle": nil},
		Runs: []Run{
			run(1, "T", "succeeded", 5, 320),
			run(2, "T", "stopped", 1000, 2600),
			run(3, "T", "skipped", -1, 2700),
			run(9, "Other", "running", 0, -1), // not a checked task
		},
		Observations: []Observation{
			{Task: "T", RunID: 1, At: at(330)},
			{Task: "T", RunID: 2, At: at(2610)},
		},
	}
	rep := Check(ev)
	expect(t, rep)
	if rep.Executions["T"] != 2 || rep.Executions["Idle"] != 0 || rep.Total() != 2 {
		t.Errorf("executions %v, want T:2 Idle:0", rep.Executions)
	}
	leaders := 0
	for _, l := range ev.Lines["T"] {
		if l.Kind == KindStart && l.Role == RoleLeader {
			leaders++
		}
	}
	if leaders != 2 {
		t.Fatalf("parsed %d leader starts", leaders)
	}
}

func TestFaultCheck_Overlap(t *testing.T) {
	// 300 started while 200 (SIGKILLed later, no end line) held the lock.
	log := cleanLog + `start 300 300 {1200} leader stubborn
overlap 300 {1201} 200
start 301 300 {1203} child 300
`
	rep := Check(Evidence{
		Lines: map[string][]Line{"T": mustParse(t, log)},
		Runs: []Run{
			run(1, "T", "succeeded", 5, 320),
			run(2, "T", "stopped", 1000, 1100),
			run(4, "T", "stopped", 1150, 2600),
		},
	})
	expect(t, rep, "T: OVERLAP: probe pid 300 found the task's lock held by pid 200")
}

func TestFaultCheck_AliveAtOnceByEndLines(t *testing.T) {
	// No overlap line (say the lock was lost), but 100's child logged its
	// end after 200 started.
	log := `start 100 100 {0} leader normal
start 101 100 {2} child 100
start 200 200 {500} leader normal
start 201 200 {502} child 200
end 101 {600} sigterm
end 100 {601} sigterm
end 201 {900} sigterm
end 200 {901} sigterm
`
	rep := Check(Evidence{
		Lines: map[string][]Line{"T": mustParse(t, log)},
		Runs:  []Run{run(1, "T", "stopped", 0, 450), run(2, "T", "stopped", 480, 1000)},
	})
	expect(t, rep,
		"T: two executions alive at once: pid 200 started at 12:00:00.500000 while pid 100 (leader of the execution led by 100, started 12:00:00.000000) was alive until 12:00:00.601000",
		"T: run 1 was recorded finished (stopped) at 12:00:00.450000 while its probe was still alive: pid 100 (leader) logged its end (sigterm) 151ms later, at 12:00:00.601000; pid 101 (child) logged its end (sigterm) 150ms later, at 12:00:00.600000",
	)
}

func TestFaultCheck_OutcomeAgainstProbe(t *testing.T) {
	log := `start 100 100 {0} leader quick
start 101 100 {2} child 100
end 101 {50} sigterm
end 100 {51} sigterm
start 200 200 {100} leader quick
start 201 200 {102} child 200
end 201 {400} quit
end 200 {401} exit0
start 300 300 {500} leader stubborn
start 301 300 {502} child 300
`
	rep := Check(Evidence{
		Lines: map[string][]Line{"T": mustParse(t, log)},
		Runs: []Run{
			run(1, "T", "succeeded", 0, 60),     // but the probe ended by SIGTERM
			run(2, "T", "stopped", 90, 450),     // but the probe exited 0
			run(3, "T", "succeeded", 480, 2000), // killed: no end line
			run(4, "T", "succeeded", 2100, 2200),
			{ID: 5, Task: "T", State: "running", StartedAt: at(2300)},
			{ID: 6, Task: "T", State: "stopping", StartedAt: at(2400)},
		},
	})
	expect(t, rep,
		"T: run 1 recorded succeeded, but its probe pid 100 ended sigterm at",
		`T: run 2 recorded stopped (""), but its probe pid 200 finished its work and exited 0 at 12:00:00.401000`,
		"T: run 3 recorded succeeded, but its probe pid 300 wrote no end line",
		"T: run 4 recorded succeeded, but no probe execution ran for it",
		"T: run 5 is running when checked",
		"T: run 6 is stopping when checked",
	)
}

func TestFaultCheck_UnrecordedExecution(t *testing.T) {
	log := `start 100 100 {0} leader quick
end 100 {10} exit0
`
	rep := Check(Evidence{Lines: map[string][]Line{"T": mustParse(t, log)}, Runs: []Run{run(1, "T", "succeeded", 5, 20)}})
	expect(t, rep,
		"T: probe pid 100 started at 12:00:00.000000, but no run of the task had started by then",
		"T: run 1 recorded succeeded, but no probe execution ran for it",
	)
}

func TestFaultCheck_Observations(t *testing.T) {
	log := `start 100 100 {0} leader stubborn
start 101 100 {2} child 100
start 200 200 {3000} leader stubborn
overlap 200 {3001} 100
`
	runs := []Run{run(1, "T", "stopped", 0, 2000), run(2, "T", "stopped", 2500, 4000)}
	rep := Check(Evidence{
		Lines: map[string][]Line{"T": mustParse(t, log)},
		Runs:  runs,
		Observations: []Observation{
			// Run 1 seen finished while its own probe holds the lock.
			{Task: "T", RunID: 1, At: at(2100), Held: true, Holder: 100, What: "after DELETE"},
			// Holder unknown, no newer run started by then; seen twice,
			// reported once.
			{Task: "T", RunID: 1, At: at(2200), Held: true},
			{Task: "T", RunID: 1, At: at(2300), Held: true},
			// Holder unknown, but run 2 had started: not conclusive.
			{Task: "T", RunID: 1, At: at(2600), Held: true},
			// Held by the probe of a newer run: fine.
			{Task: "T", RunID: 1, At: at(3500), Held: true, Holder: 200},
			{Task: "T", RunID: 2, At: at(4100)},
		},
	})
	expect(t, rep,
		"T: OVERLAP: probe pid 200 found the task's lock held by pid 100",
		"T: run 1 was seen finished at 12:00:02.100000 (after DELETE) while its task's lock was still held by probe pid 100 (of run 1)",
		"T: run 1 was seen finished at 12:00:02.200000 while its task's lock was still held (holder pid 0) and no newer run had started",
	)
}

// In a long round pids come round again: the lock's holder is the process
// that had its pid at the moment the lock was looked at, not the last one
// that ever had it.
func TestFaultCheck_ObservationsUnderPidReuse(t *testing.T) {
	log := `start 100 100 {0} leader quick
start 101 100 {2} child 100
end 101 {1900} sigterm
end 100 {1950} sigterm
start 300 300 {3000} leader quick
start 301 300 {3002} child 300
end 301 {3900} exit0
end 300 {3950} exit0
start 100 100 {5000} leader quick
start 101 100 {5002} child 100
end 101 {5900} exit0
end 100 {5950} exit0
`
	runs := []Run{run(1, "T", "stopped", 0, 1800), run(2, "T", "succeeded", 2900, 4000), run(3, "T", "succeeded", 4900, 6000)}
	rep := Check(Evidence{
		Lines: map[string][]Line{"T": mustParse(t, log)},
		Runs:  runs,
		Observations: []Observation{
			// Pid 100 at 1.85 s is run 1's leader, whose execution logged
			// its end later (also reported on its own).
			{Task: "T", RunID: 1, At: at(1850), Held: true, Holder: 100, What: "after DELETE"},
			// Pid 300 is run 2's, a newer run: fine.
			{Task: "T", RunID: 1, At: at(3500), Held: true, Holder: 300},
		},
	})
	expect(t, rep,
		"T: run 1 was recorded finished (stopped) at 12:00:01.800000 while its probe was still alive",
		"T: run 1 was seen finished at 12:00:01.850000 (after DELETE) while its task's lock was still held by probe pid 100 (of run 1)",
	)
}

func TestFaultCheck_LiveProcesses(t *testing.T) {
	log := `start 100 100 {0} leader stubborn
start 101 100 {2} child 100
`
	rep := Check(Evidence{
		Lines: map[string][]Line{"T": mustParse(t, log)},
		Runs:  []Run{run(1, "T", "interrupted", 0, 1000)},
		Live:  []Proc{{PID: 101, PGID: 100, State: "S"}, {PID: 555, PGID: 555, State: "S"}},
	})
	expect(t, rep,
		"probe pid 101 (pgid 100; child of leader 100 of T, started 12:00:00.000000, run 1 recorded finished/interrupted) is still alive at the end",
		"probe pid 555 (pgid 555; a probe process not in any log) is still alive at the end",
	)
}

func TestFaultCheck_BadLines(t *testing.T) {
	text := strings.Join([]string{
		"start 1 1 " + ns(0) + " leader quick",
		"start 2 1 " + ns(1) + " child 1",
		"bogus 1 2 3",
		"start 3 3 " + ns(2) + " boss quick",
		"end 1 " + ns(3) + " vanished",
		"overlap 1 notatime 0",
		"end 1",
		"end 2 " + ns(4) + " quit",
		"end 1 " + ns(5) + " exit0",
		"end 1 " + ns(6) + " exit0",
		"start 7 6 " + ns(7) + " child 6",
		"signal 8 " + ns(8) + " SIGTERM ignored",
		"overlap 2 " + ns(9) + " 0",
		"",
	}, "\n")
	lines, bad, err := ParseLog("x.log", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	wantBad := []string{
		`x.log:3: malformed probe log line "bogus 1 2 3": unknown kind "bogus"`,
		`x.log:4: malformed probe log line`, `role "boss"`,
		`x.log:5: malformed probe log line`, `unknown end "vanished"`,
		`x.log:6: malformed probe log line`, `time "notatime"`,
		`x.log:7: malformed probe log line "end 1": too few fields`,
	}
	joined := strings.Join(bad, "\n")
	for _, w := range wantBad {
		if !strings.Contains(joined, w) {
			t.Errorf("malformed lines lack %q:\n%s", w, joined)
		}
	}
	if len(bad) != 5 {
		t.Errorf("%d malformed lines, want 5:\n%s", len(bad), joined)
	}
	rep := Check(Evidence{Lines: map[string][]Line{"T": lines}, Malformed: bad, Runs: []Run{run(1, "T", "succeeded", 0, 100)}})
	expect(t, rep,
		"x.log:3:", "x.log:4:", "x.log:5:", "x.log:6:", "x.log:7:",
		"x.log:10: T: pid 1 logged a second end (exit0 after exit0)",
		"x.log:11: T: child pid 7 started in process group 6, whose leader never logged its start",
		"x.log:12: T: signal line from pid 8, which never logged its start",
		"x.log:13: T: overlap from pid 2, which is no leader that logged its start",
	)
}

func TestFaultCheck_RunFromAPI(t *testing.T) {
	r := RunFromAPI(apitype.Run{ID: 7, Task: "T", State: "finished", Outcome: "stopped", Reason: "r",
		StartedAt: "2026-03-01T12:00:00.123456789Z", EndedAt: "2026-03-01T12:00:01Z"})
	if r.ID != 7 || r.Task != "T" || r.Outcome != "stopped" || r.Reason != "r" ||
		!r.StartedAt.Equal(t0.Add(123456789)) || !r.EndedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("RunFromAPI: %+v", r)
	}
	if r := RunFromAPI(apitype.Run{StartedAt: "yesterday"}); !r.StartedAt.IsZero() || !r.EndedAt.IsZero() {
		t.Errorf("bad times: %+v", r)
	}
}

func TestFaultCheck_TwoExecutionsOneRun(t *testing.T) {
	log := `start 100 100 {10} leader normal
end 100 {20} sigterm
start 200 200 {30} leader normal
end 200 {40} sigterm
`
	rep := Check(Evidence{Lines: map[string][]Line{"T": mustParse(t, log)}, Runs: []Run{run(1, "T", "stopped", 0, 50)}})
	expect(t, rep, "T: run 1 covered 2 probe executions (pids 100, 200); a run runs its program once")
}

// TestParseLog_LineBeingWritten: a reader may see part of a probe's append;
// a last line without its line break is not yet written, not malformed.
func TestParseLog_LineBeingWritten(t *testing.T) {
	whole := "start 1 1 " + ns(1) + " leader quick\n"
	lines, bad, err := ParseLog("x.log", strings.NewReader(whole+"end 1 17"))
	if err != nil || len(bad) != 0 || len(lines) != 1 {
		t.Fatalf("a log whose last line is being written: %d lines, malformed %q, %v; want the whole line alone", len(lines), bad, err)
	}
	if _, bad, _ := ParseLog("x.log", strings.NewReader(whole+"end 1\n")); len(bad) != 1 {
		t.Errorf("a whole malformed last line: malformed %q; want it reported", bad)
	}
}
