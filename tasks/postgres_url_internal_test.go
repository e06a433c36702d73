package tasks

import "testing"

// TestSplitPassword_WithoutPoolParams: the URL pg_dump and a single
// connection get lacks pgxpool's parameters (pg_dump: "invalid URI query
// parameter"; the server: "unrecognized configuration parameter") and the
// password, and keeps the rest.
func TestSplitPassword_WithoutPoolParams(t *testing.T) {
	dsn, pw, err := splitPassword("postgres://butler:s3cret@db:5432/butler?pool_max_conns=8&sslmode=require&pool_min_conns=1")
	if err != nil {
		t.Fatal(err)
	}
	if want := "postgres://butler@db:5432/butler?sslmode=require"; dsn != want || pw != "s3cret" {
		t.Fatalf("splitPassword = %q, %q; want %q, s3cret", dsn, pw, want)
	}
	if got, want := withoutPoolParams("postgres://db/butler?pool_max_conns=8"), "postgres://db/butler"; got != want {
		t.Fatalf("withoutPoolParams = %q, want %q", got, want)
	}
}
