package butler

import (
	"encoding/json"
	"fmt"
	"time"
)

// clusterEventVersion is the version of clusterEvent this server writes.
const clusterEventVersion = 1

// clusterEvent is an Event as it travels between the servers of a cluster
// (LISTEN/NOTIFY). It is a wire type of its own, with explicit names and a
// version, so that renaming a field of Event cannot break a cluster whose
// servers run different versions: a reader takes the fields it knows and
// ignores the others. Version 0 is the form earlier servers sent
// ({"Node": ..., "Event": {...}}, Event's Go field names); it is still read.
type clusterEvent struct {
	V    int    `json:"v"`
	Node string `json:"node"`
	Type string `json:"type"`

	UUID     string    `json:"uuid,omitempty"`
	RunID    int64     `json:"runId,omitempty"`
	Task     string    `json:"task,omitempty"`
	Title    string    `json:"title,omitempty"`
	Step     string    `json:"step,omitempty"`
	Progress int       `json:"progress"`
	Trigger  string    `json:"trigger,omitempty"`
	RunNode  string    `json:"runNode,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Stopping bool      `json:"stopping,omitempty"`
	Outcome  string    `json:"outcome,omitempty"`

	UpdateVersion  string `json:"updateVersion,omitempty"`
	UpdateNotesURL string `json:"updateNotesUrl,omitempty"`

	// Event is version 0's whole event.
	Event *legacyEvent `json:"Event,omitempty"`
	// LegacyNode is version 0's sender.
	LegacyNode string `json:"Node,omitempty"`
}

// legacyEvent is Event as version 0 encoded it (Go field names).
type legacyEvent struct {
	Type     string
	Activity struct {
		UUID     string
		RunID    int64
		Task     string
		Title    string
		Step     string
		Progress int
		Trigger  string
		Node     string
		Started  time.Time
		Outcome  string
	}
	Update *Update
}

// encodeClusterEvent encodes ev, sent by node, for the other servers.
func encodeClusterEvent(node string, ev Event) ([]byte, error) {
	a := ev.Activity
	m := clusterEvent{
		V: clusterEventVersion, Node: node, Type: string(ev.Type),
		UUID: a.UUID, RunID: a.RunID, Task: string(a.Task), Title: a.Title, Step: a.Step, Progress: a.Progress,
		Trigger: string(a.Trigger), RunNode: a.Node, Started: a.Started, Stopping: a.Stopping, Outcome: string(a.Outcome),
	}
	if ev.Update != nil {
		m.UpdateVersion, m.UpdateNotesURL = ev.Update.Version, ev.Update.NotesURL
	}
	return json.Marshal(m)
}

// decodeClusterEvent decodes a message of any version and returns the
// event and the node that sent it.
func decodeClusterEvent(b []byte) (node string, ev Event, err error) {
	var m clusterEvent
	if err := json.Unmarshal(b, &m); err != nil {
		return "", Event{}, fmt.Errorf("decode a cluster event: %w", err)
	}
	if m.V == 0 {
		if m.Event == nil {
			return "", Event{}, fmt.Errorf("decode a cluster event: no version and no event")
		}
		l := m.Event
		la := l.Activity
		return m.LegacyNode, Event{Type: EventType(l.Type), Update: l.Update, Activity: Activity{
			UUID: la.UUID, RunID: la.RunID, Task: TaskName(la.Task), Title: la.Title, Step: la.Step, Progress: la.Progress,
			Trigger: Trigger(la.Trigger), Node: la.Node, Started: la.Started, Outcome: Outcome(la.Outcome),
		}}, nil
	}
	ev = Event{Type: EventType(m.Type), Activity: Activity{
		UUID: m.UUID, RunID: m.RunID, Task: TaskName(m.Task), Title: m.Title, Step: m.Step, Progress: m.Progress,
		Trigger: Trigger(m.Trigger), Node: m.RunNode, Started: m.Started, Stopping: m.Stopping, Outcome: Outcome(m.Outcome),
	}}
	if m.UpdateVersion != "" {
		ev.Update = &Update{Version: m.UpdateVersion, NotesURL: m.UpdateNotesURL}
	}
	return m.Node, ev, nil
}
