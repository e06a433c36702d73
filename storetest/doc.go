// Package storetest is a conformance suite for implementations of
// butler.Store, in the spirit of River's riverdrivertest: one function,
// Exercise, runs a subtest for every part of the contract that store.go
// documents, against fresh stores that the caller makes.
//
// A store package calls it from its own tests:
//
//	func TestStore(t *testing.T) {
//		storetest.Exercise(t, func(t *testing.T) butler.Store {
//			db, err := sqlite.Open(t.Context(), ":memory:")
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { db.Close() })
//			return db
//		})
//	}
//
// The suite asserts only what the butler.Store contract says, never how a
// particular database keeps it, so that every implementation (SQLite today,
// PostgreSQL for clusters) can run it unchanged:
//
//   - Times are compared with time.Time.Equal semantics, in any location,
//     allowing a difference of less than a microsecond, because PostgreSQL
//     keeps microseconds. Instants used as bounds (TasksRunSince, the
//     RunFilter bounds, PruneRuns) are whole microseconds, so a store that
//     keeps microseconds must treat them exactly. A store that keeps
//     nanoseconds should check that in its own tests.
//   - The zero time.Time and the zero schedule.Day must read back as zero.
//   - Run IDs are compared only for order (CreateRun assigns increasing
//     IDs), never for their values. Run UUIDs are opaque strings: the suite
//     checks that CreateRun sets distinct ones, keeps one the caller set, and
//     that RunByUUID finds them, not their format.
//   - Runs are "newest first" and active runs "oldest first" in creation
//     order; the suite creates runs with increasing CreatedAt so that order
//     by ID and order by creation time agree.
//   - CreateRun keeps a CreatedAt that the caller set (the planner and the
//     tests need runs created at given instants) and sets it when zero.
//
// Subtests run one after another, never in parallel, and each asks for its
// own empty store, so newStore may hand out stores that share a server as
// long as each one starts empty.
package storetest
