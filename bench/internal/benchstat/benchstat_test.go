package benchstat

import (
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{5}, 5},
		{[]time.Duration{9, 1, 5}, 5},
		{[]time.Duration{8, 2, 4, 6}, 5},
	} {
		in := append([]time.Duration(nil), c.in...)
		if got := Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Fatalf("Median changed its argument: %v, was %v", c.in, in)
			}
		}
	}
}

// TestPercentile checks the nearest rank against the integer formula the
// programs used before, (n*p+99)/100 - 1, for every n up to 5,000 and every
// percentile the programs report (the two agree for these, not for every p
// in floating point).
func TestPercentile(t *testing.T) {
	if got := Percentile(nil, 99); got != 0 {
		t.Errorf("Percentile(nil, 99) = %v, want 0", got)
	}
	for n := 1; n <= 5000; n++ {
		s := make([]time.Duration, n)
		for i := range s {
			s[i] = time.Duration(i)
		}
		for _, p := range []int{50, 90, 99, 100} {
			want := time.Duration(max((n*p+99)/100-1, 0))
			if got := Percentile(s, float64(p)); got != want {
				t.Fatalf("Percentile(0..%d, %d) = %v, want %v", n-1, p, got, want)
			}
		}
	}
	if got := Percentile([]time.Duration{1, 2, 3, 4}, 50); got != 2 {
		t.Errorf("p50 of 1..4 = %v, want 2", got)
	}
}
