package butler

import (
	"strings"
	"testing"
	"time"
)

func TestClusterEvent_RoundTrip(t *testing.T) {
	started := time.Date(2026, 11, 30, 2, 0, 0, 123, time.UTC)
	for _, ev := range []Event{
		{Type: EventUpdated, Activity: Activity{UUID: "u", RunID: 7, Task: "BackupDatabase", Title: "Backup Database", Step: "copying",
			Progress: 40, Trigger: TriggerWindow, Node: "a", Started: started, Stopping: true}},
		{Type: EventEnded, Activity: Activity{UUID: "u", RunID: 7, Task: "T", Progress: -1, Outcome: OutcomeStopped}},
		{Type: EventUpdate, Update: &Update{Version: "1.2.3", NotesURL: "https://example.org/notes"}, Activity: Activity{Progress: 0}},
	} {
		b, err := encodeClusterEvent("node-a", ev)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"v":1`) {
			t.Errorf("message %s has no version", b)
		}
		node, got, err := decodeClusterEvent(b)
		if err != nil || node != "node-a" {
			t.Fatalf("decode %s: %q %v", b, node, err)
		}
		if got.Type != ev.Type || got.Activity != ev.Activity || (ev.Update == nil) != (got.Update == nil) ||
			(ev.Update != nil && *got.Update != *ev.Update) {
			t.Errorf("round trip of %+v gave %+v", ev, got)
		}
	}
}

// A server of the previous version sent the Event whole, with Go's field
// names; a mixed cluster must still read it.
func TestClusterEvent_DecodesVersionZero(t *testing.T) {
	old := `{"Node":"old-node","Event":{"Type":"updated","Activity":{"UUID":"3f6c","RunID":12,"Task":"OptimizeDatabase",` +
		`"Title":"Optimize Database","Step":"vacuum","Progress":70,"Trigger":"start_task","Node":"old-node",` +
		`"Started":"2026-11-29T02:00:00Z","Outcome":""},"Update":null}}`
	node, ev, err := decodeClusterEvent([]byte(old))
	if err != nil || node != "old-node" {
		t.Fatalf("decode: %q %v", node, err)
	}
	want := Activity{UUID: "3f6c", RunID: 12, Task: "OptimizeDatabase", Title: "Optimize Database", Step: "vacuum", Progress: 70,
		Trigger: TriggerStartTask, Node: "old-node", Started: time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)}
	if ev.Type != EventUpdated || ev.Activity != want || ev.Update != nil {
		t.Fatalf("decoded %+v, want %+v", ev, want)
	}
}

// A newer server may add fields: they are ignored.
func TestClusterEvent_IgnoresUnknownFields(t *testing.T) {
	newer := `{"v":2,"node":"n","type":"started","uuid":"x","runId":1,"task":"T","progress":5,"somethingNew":{"a":1}}`
	node, ev, err := decodeClusterEvent([]byte(newer))
	if err != nil || node != "n" || ev.Type != EventStarted || ev.Activity.RunID != 1 || ev.Activity.Progress != 5 {
		t.Fatalf("decoded %q %+v %v", node, ev, err)
	}
	if _, _, err := decodeClusterEvent([]byte(`{"x":1}`)); err == nil {
		t.Fatal("a message with no version and no event decoded")
	}
}
