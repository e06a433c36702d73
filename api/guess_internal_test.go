package api

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// TestGuesses: a client may send guessBurst wrong tokens at once; then it
// is throttled — even the right token is refused, uncompared — until one
// more guess is allowed (guessEvery later), and one guess at a time after
// that. Other clients are not affected, and an IPv6 client counts by its
// /64.
func TestGuesses(t *testing.T) {
	g := newGuesses(slog.New(slog.DiscardHandler), GuessLimit{})
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	g.now = func() time.Time { return now }
	from := func(addr string) func(token string) (tokenVerdict, time.Duration) {
		return func(token string) (tokenVerdict, time.Duration) {
			r := httptest.NewRequest("GET", "/butler", nil)
			r.RemoteAddr = addr
			return g.check(r, token, "the-right-token")
		}
	}
	a := from("192.0.2.7:5000")
	for i := range guessBurst {
		if v, _ := a("wrong-" + strconv.Itoa(i)); v != tokenWrong {
			t.Fatalf("wrong token %d: %v; want tokenWrong", i+1, v)
		}
	}
	v, wait := a("the-right-token")
	if v != tokenThrottled || wait != guessEvery {
		t.Fatalf("after %d wrong tokens, the right one: %v, wait %v; want throttled for %v", guessBurst, v, wait, guessEvery)
	}
	if v, _ := from("192.0.2.7:6000")("the-right-token"); v != tokenThrottled {
		t.Errorf("the same address from another port: %v; want throttled", v)
	}
	if v, _ := from("192.0.2.8:5000")("the-right-token"); v != tokenRight {
		t.Errorf("another address: %v; want it let in", v)
	}
	now = now.Add(guessEvery - time.Millisecond)
	if v, wait := a("the-right-token"); v != tokenThrottled || wait != time.Millisecond {
		t.Errorf("1 ms before the next guess: %v, wait %v; want throttled for 1ms", v, wait)
	}
	now = now.Add(time.Millisecond)
	if v, _ := a("wrong-next"); v != tokenWrong {
		t.Errorf("the next guess: %v; want it compared (wrong)", v)
	}
	if v, _ := a("the-right-token"); v != tokenThrottled {
		t.Errorf("right after it: %v; want throttled again", v)
	}
	now = now.Add(guessEvery)
	if v, _ := a("the-right-token"); v != tokenRight {
		t.Errorf("a guess later, the right token: %v; want it let in", v)
	}

	// IPv6: one /64 is one client.
	b := from("[2001:db8:1:2::1]:5000")
	for i := range guessBurst {
		b("wrong-" + strconv.Itoa(i))
	}
	if v, _ := from("[2001:db8:1:2::ffff]:5000")("the-right-token"); v != tokenThrottled {
		t.Errorf("another address of the same /64: %v; want throttled", v)
	}
	if v, _ := from("[2001:db8:1:3::1]:5000")("the-right-token"); v != tokenRight {
		t.Errorf("another /64: %v; want it let in", v)
	}
}

// TestGuesses_Bounded: past guessTracked clients, those whose allowance is
// whole again are forgotten.
func TestGuesses_Bounded(t *testing.T) {
	g := newGuesses(slog.New(slog.DiscardHandler), GuessLimit{})
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	g.now = func() time.Time { return now }
	r := httptest.NewRequest("GET", "/butler", nil)
	for i := range guessTracked {
		r.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255)
		g.check(r, "wrong", "right")
	}
	if len(g.byAddr) != guessTracked {
		t.Fatalf("%d clients remembered; want %d", len(g.byAddr), guessTracked)
	}
	now = now.Add(guessEvery) // each one's single wrong guess is made up for
	r.RemoteAddr = "198.51.100.1:1"
	g.check(r, "wrong", "right")
	if len(g.byAddr) != 1 {
		t.Errorf("%d clients remembered after the others' allowances were whole again; want 1", len(g.byAddr))
	}
}

// TestGuesses_SameWrongTokenIsOneGuess: a client that sends the same wrong
// token again and again (a script with an old token) spends one guess, not
// its whole allowance.
func TestGuesses_SameWrongTokenIsOneGuess(t *testing.T) {
	g := newGuesses(slog.New(slog.DiscardHandler), GuessLimit{})
	g.now = func() time.Time { return time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC) }
	r := httptest.NewRequest("GET", "/butler", nil)
	r.RemoteAddr = "192.0.2.9:1"
	for range 100 {
		if v, _ := g.check(r, "an-old-token", "the-right-token"); v != tokenWrong {
			t.Fatalf("the same wrong token again: %v; want tokenWrong, not throttled", v)
		}
	}
	if v, _ := g.check(r, "the-right-token", "the-right-token"); v != tokenRight {
		t.Fatalf("the right token after 100 copies of one wrong one: %v; want it let in", v)
	}
}

// TestGuesses_OtherPagesNotCounted: a request a page of another origin
// sent (another site, another port of localhost, a foreign Origin) never
// has its token counted: such a page cannot get the browser's address
// throttled. Another site's is not even compared; the others' are (an API
// client may send an Origin), and cannot read the answer.
func TestGuesses_OtherPagesNotCounted(t *testing.T) {
	for name, h := range map[string][2]string{
		"cross-site":    {"Sec-Fetch-Site", "cross-site"},
		"same-site":     {"Sec-Fetch-Site", "same-site"},
		"foreign":       {"Origin", "http://localhost:8080"},
		"opaque origin": {"Origin", "null"},
	} {
		t.Run(name, func(t *testing.T) {
			g := newGuesses(slog.New(slog.DiscardHandler), GuessLimit{})
			r := httptest.NewRequest("GET", "http://localhost:28400/butler", nil)
			r.RemoteAddr = "127.0.0.1:1"
			r.Header.Set(h[0], h[1])
			for i := range 3 * guessBurst {
				if v, _ := g.check(r, "guess-"+strconv.Itoa(i), "the-right-token"); v != tokenWrong {
					t.Fatalf("guess %d: %v; want tokenWrong", i, v)
				}
			}
			want := tokenRight
			if name == "cross-site" {
				want = tokenWrong // uncompared
			}
			if v, _ := g.check(r, "the-right-token", "the-right-token"); v != want {
				t.Errorf("the right token: %v; want %v", v, want)
			}
			r.Header.Del(h[0])
			if v, _ := g.check(r, "the-right-token", "the-right-token"); v != tokenRight {
				t.Errorf("the same address, from no other page: %v; want it let in (nothing was counted)", v)
			}
		})
	}
	// The server's own origin is its own.
	r := httptest.NewRequest("GET", "http://localhost:28400/butler", nil)
	r.RemoteAddr = "127.0.0.1:1"
	r.Header.Set("Origin", "http://localhost:28400")
	if fromOtherPage(r) {
		t.Error("a request of the server's own origin is taken for another page's")
	}
}

// TestGuesses_BoundedUnderAttack: clients that all keep guessing (no
// allowance whole again) are still bounded: past twice guessTracked, some
// are forgotten.
func TestGuesses_BoundedUnderAttack(t *testing.T) {
	g := newGuesses(slog.New(slog.DiscardHandler), GuessLimit{})
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	g.now = func() time.Time { return now }
	r := httptest.NewRequest("GET", "/butler", nil)
	for i := range 3 * guessTracked {
		r.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255)
		g.check(r, "wrong", "right")
		if len(g.byAddr) > 2*guessTracked {
			t.Fatalf("%d clients remembered after %d; want at most %d", len(g.byAddr), i+1, 2*guessTracked)
		}
	}
}
