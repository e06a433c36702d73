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

// TestGuesses_OtherPagesCountedApart: a request a page of another origin
// sent (another site, another port of localhost, a foreign Origin) never
// drains the bucket of its address's other requests, so such a page
// cannot get the CLI and the local Plex clients throttled. Another site's
// is not even compared; the others' are counted in a bucket of their own,
// limited like any other, as anyone can send those headers.
func TestGuesses_OtherPagesCountedApart(t *testing.T) {
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
			compared := 0
			for i := range 3 * guessBurst {
				switch v, _ := g.check(r, "guess-"+strconv.Itoa(i), "the-right-token"); v {
				case tokenWrong:
					compared++
				case tokenRight:
					t.Fatalf("guess %d let in", i)
				}
			}
			want := guessBurst // limited like any client's
			if name == "cross-site" {
				want = 3 * guessBurst // refused uncompared, never throttled
			}
			if compared != want {
				t.Errorf("%d of %d guesses answered wrong (the rest throttled); want %d", compared, 3*guessBurst, want)
			}
			r.Header.Del(h[0])
			if v, _ := g.check(r, "the-right-token", "the-right-token"); v != tokenRight {
				t.Errorf("the same address's own requests: %v; want the right token let in (its bucket untouched)", v)
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

// TestGuesses_HeadersBuyNoMoreThanABucket: a client (a script, not a
// browser) throttled for its wrong tokens, that adds a header of another
// page, gets that bucket's guesses and no more: the throttle stays.
func TestGuesses_HeadersBuyNoMoreThanABucket(t *testing.T) {
	g := newGuesses(slog.New(slog.DiscardHandler), GuessLimit{})
	r := httptest.NewRequest("GET", "http://butler.example:32400/butler", nil)
	r.RemoteAddr = "203.0.113.5:4444"
	for i := range 3 * guessBurst {
		g.check(r, "plain-"+strconv.Itoa(i), "the-right-token")
	}
	if v, _ := g.check(r, "another", "the-right-token"); v != tokenThrottled {
		t.Fatalf("plain guesses not throttled: %v", v)
	}
	compared := 0
	for _, h := range [][2]string{{"Origin", "null"}, {"Origin", "http://x"}, {"Sec-Fetch-Site", "same-site"}} {
		r.Header.Set(h[0], h[1])
		for i := range 100 {
			if v, _ := g.check(r, h[1]+"-"+strconv.Itoa(i), "the-right-token"); v == tokenWrong {
				compared++
			}
		}
		r.Header.Del(h[0])
	}
	if compared > guessBurst {
		t.Errorf("a throttled client adding other pages' headers had %d more guesses compared; want %d at most", compared, guessBurst)
	}
	if v, _ := g.check(r, "the-right-token", "the-right-token"); v != tokenThrottled {
		t.Errorf("the throttled client's own requests afterwards: %v; want still throttled", v)
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
