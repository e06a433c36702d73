package postgres_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/plexbutler/butler/store/postgres"
)

// TestOpenErrors: a server that cannot be used is described on one line
// that says what to do: createdb for a missing database, createuser for a
// missing role, and the refused address when nothing listens.
func TestOpenErrors(t *testing.T) {
	admin := os.Getenv("BUTLER_TEST_DATABASE_URL")
	if admin == "" {
		t.Skip("BUTLER_TEST_DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/postgres)")
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(u *url.URL)) string {
		c := *u
		f(&c)
		return c.String()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	for _, tc := range []struct {
		name, url string
		want      []string
		transient bool // it may pass by itself
	}{
		{"no database", with(func(u *url.URL) { u.Path = "/butler_no_such_db" }),
			[]string{`no database "butler_no_such_db"`, "createdb -h " + u.Hostname(), "butler_no_such_db"}, false},
		{"no role", with(func(u *url.URL) { u.User = url.User("butler_no_such_role") }),
			[]string{`refused user "butler_no_such_role"`, "createuser"}, false},
		{"nothing listens", with(func(u *url.URL) { u.Host = dead }),
			[]string{"cannot reach PostgreSQL at " + dead + ": connection refused"}, true},
		// A name that does not exist at all: a typo, not a network
		// coming up.
		{"unknown host", with(func(u *url.URL) { u.Host = "butler-no-such-host.invalid:5432" }),
			[]string{"cannot reach PostgreSQL at butler-no-such-host.invalid:5432"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := postgres.Open(context.Background(), tc.url)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("the error is more than one line:\n%s", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("the error %q lacks %q", msg, w)
				}
			}
			var ce *postgres.ConnectError
			if !errors.As(err, &ce) || ce.Unwrap() == nil {
				t.Fatalf("the error is a %T, not a *postgres.ConnectError wrapping pgx's", err)
			}
			if ce.Transient() != tc.transient {
				t.Errorf("Transient() = %v; want %v", ce.Transient(), tc.transient)
			}
		})
	}
}
