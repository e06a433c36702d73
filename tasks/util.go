package tasks

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// DefaultLockTimeout is how long BackupDatabase and OptimizeDatabase wait
// for a lock held by another connection before they fail, when their
// LockTimeout is 0.
const DefaultLockTimeout = 5 * time.Second

// lockTimeout returns d, or DefaultLockTimeout when d is 0 or less.
func lockTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultLockTimeout
	}
	return d
}

// busyTimeoutParam is the DSN parameter that sets busy_timeout to
// lockTimeout(d), in whole milliseconds (at least 1).
func busyTimeoutParam(d time.Duration) string {
	return fmt.Sprintf("_pragma=busy_timeout(%d)", max(lockTimeout(d).Milliseconds(), 1))
}

// openSQLite opens a database/sql handle on dsn that holds at most one
// connection: callers use one connection of their own and never share it.
func openSQLite(dsn string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// maxIntegrityProblems bounds how many of PRAGMA integrity_check's messages
// an error quotes.
const maxIntegrityProblems = 5

// integrityProblems runs PRAGMA integrity_check on conn and returns the
// lines of the problems it reports, at most maxIntegrityProblems of them:
// none when the result is the single row "ok". An error means the check itself could not
// run (often because the file is too damaged for it to start).
func integrityProblems(ctx context.Context, conn *sql.Conn) ([]string, error) {
	rows, err := conn.QueryContext(ctx, fmt.Sprintf("PRAGMA integrity_check(%d)", maxIntegrityProblems))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return nil, err
		}
		// A row may hold several lines ("*** in database main ***\n...").
		for line := range strings.SplitSeq(m, "\n") {
			line = strings.TrimSpace(line)
			if line != "" && !strings.HasPrefix(line, "*** in database ") && len(msgs) < maxIntegrityProblems {
				msgs = append(msgs, line)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(msgs) == 1 && msgs[0] == "ok" {
		return nil, nil
	}
	if len(msgs) == 0 {
		msgs = []string{"integrity_check returned no rows"}
	}
	return msgs, nil
}

// formatBytes formats n bytes for people, in powers of 1024: "512 B",
// "12 KiB", "1.2 MiB".
func formatBytes(n int64) string {
	if n < 0 {
		return fmt.Sprintf("%d B", n)
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n) / unit
	i := 0
	for v >= unit && i < len(units)-1 {
		v /= unit
		i++
	}
	s := fmt.Sprintf("%.1f", v)
	if s == "1024.0" && i < len(units)-1 { // rounding carried into the next unit
		s, i = "1.0", i+1
	}
	s = strings.TrimSuffix(s, ".0")
	return s + " " + units[i]
}

// plural returns "1 file" or "3 files".
func plural(n int, singular, pluralForm string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, singular)
	}
	return fmt.Sprintf("%d %s", n, pluralForm)
}
