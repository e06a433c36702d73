// Package benchstat holds the statistics the benchmark programs report:
// the median of repeated runs and nearest-rank percentiles.
package benchstat

import (
	"math"
	"slices"
	"time"
)

// Median returns the median of d (the mean of the two middle values when
// len(d) is even), 0 when d is empty. d is not changed.
func Median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := Sorted(d)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, which must be in ascending order: the smallest value with at
// least p percent of the values at or below it. It returns 0 when sorted is
// empty.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Sorted returns a sorted copy of d.
func Sorted(d []time.Duration) []time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s
}
