// Package batchpace sizes the batches of a long deletion so that each one
// holds the database about as long as a target: on SQLite every other write
// waits for a batch (there is one writer), so a batch is sized to the pace
// of the one before it.
package batchpace

import "time"

// Next is the size of the batch after one of batch rows that deleted n in
// took: the rows deleted in target at that pace, between least and most,
// and at most twice batch (a fast batch may have been a cheap one).
func Next(n, batch, least, most int64, took, target time.Duration) int64 {
	next := int64(float64(n) * float64(target) / float64(max(took, time.Microsecond)))
	return max(min(next, 2*batch, most), min(least, most))
}
