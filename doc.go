// Package butler is the domain of the Butler, a maintenance-task manager
// that speaks the Plex Media Server "Butler" API: tasks and their catalog,
// runs and their states, settings, events, and the Manager that decides,
// starts, stops and plans runs under the scheduling rules.
//
// The Manager is the public front; it depends only on interfaces defined
// here — a Store (store/sqlite, store/postgres), a Queue (engine, on River),
// an Observer (metrics), a Reaper (tasks) — which the adapters implement and
// cmd/butler wires. The scheduling maths is in package schedule, free of
// any state.
//
// A run's life: scheduled → queued → running → (stopping →) finished. At
// most one run of a task is active at any moment, cluster-wide; a stopped
// run is stopping until its work has stopped; see docs/architecture.md.
package butler
