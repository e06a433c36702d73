package butler

import "testing"

// TestEveryDays: a plan's reason says "every day", not "every 1 days".
func TestEveryDays(t *testing.T) {
	for n, want := range map[int]string{1: "every day", 3: "every 3 days", 7: "every 7 days"} {
		if got := everyDays(n); got != want {
			t.Errorf("everyDays(%d) = %q, want %q", n, got, want)
		}
	}
}
