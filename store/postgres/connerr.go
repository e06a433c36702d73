package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// ConnectError is why Open could not use the server: one line that says
// what to do, wrapping pgx's error (which lists every address and TLS mode
// it tried, on several lines that often repeat).
type ConnectError struct {
	msg string
	err error
}

func (e *ConnectError) Error() string { return e.msg }

// Transient reports whether the failure may pass by itself, so that trying
// again later makes sense: the server refuses connections, does not
// answer, or is not found (yet: the network or the server is still coming
// up), or says it cannot take one now (starting up, shutting down, too
// many connections). A missing database or role, a refused password and
// the like need a person.
func (e *ConnectError) Transient() bool { return Transient(e.err) }

// Transient reports whether err, from a call to PostgreSQL, may pass by
// itself: a connection refused, reset or cut, no answer in time, a host
// name that does not resolve for now, or the server saying it cannot
// serve now (SQLSTATE classes 08, 53 and 57P: starting up, shutting down,
// too many connections, disk full). A name that does not exist at all, a
// missing database or role, a refused password and the like need a person.
func Transient(err error) bool {
	var ce *ConnectError
	if errors.As(err, &ce) && ce.err != nil {
		err = ce.err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || // connection_exception
			strings.HasPrefix(pe.Code, "53") || // insufficient_resources: too many connections, disk full
			strings.HasPrefix(pe.Code, "57P") // operator intervention: shutting down, cannot connect now
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return !dns.IsNotFound
	}
	// A connection's dial, read or write that failed (not a listen: a
	// port in use is no database's).
	var op *net.OpError
	conn := errors.As(err, &op) && (op.Op == "dial" || op.Op == "read" || op.Op == "write")
	return conn || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) || pgconn.SafeToRetry(err)
}

// Unwrap returns pgx's error.
func (e *ConnectError) Unwrap() error { return e.err }

// connectError describes err, from connecting to the server of cfg.
func connectError(err error, cfg *pgconn.Config) error {
	return &ConnectError{msg: connectProblem(err, cfg), err: err}
}

func connectProblem(err error, cfg *pgconn.Config) string {
	where := fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
	var pe *pgconn.PgError
	var dns *net.DNSError
	switch {
	case errors.As(err, &pe):
		switch pe.Code {
		case "3D000": // invalid_catalog_name
			return fmt.Sprintf("PostgreSQL at %s has no database %q; create it, owned by %s: createdb -h %s -p %d -U postgres -O %s %s",
				where, cfg.Database, cfg.User, cfg.Host, cfg.Port, cfg.User, cfg.Database)
		case "28000": // invalid_authorization_specification: no such role, or pg_hba.conf refuses
			return fmt.Sprintf("PostgreSQL at %s refused user %q: %s; create the role (createuser -h %s -p %d -U postgres %s) or allow it in pg_hba.conf",
				where, cfg.User, pe.Message, cfg.Host, cfg.Port, cfg.User)
		case "28P01": // invalid_password
			return fmt.Sprintf("PostgreSQL at %s refused the password of user %q; give the right one in a password file (PGPASSFILE, or ~/.pgpass of the user Butler runs as)",
				where, cfg.User)
		}
		return fmt.Sprintf("PostgreSQL at %s: %s (SQLSTATE %s)", where, pe.Message, pe.Code)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("cannot reach PostgreSQL at %s: connection refused; is it running and listening there (listen_addresses, port)?", where)
	case errors.As(err, &dns):
		return fmt.Sprintf("cannot reach PostgreSQL at %s: unknown host %s", where, dns.Name)
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err):
		return fmt.Sprintf("cannot reach PostgreSQL at %s: no answer in time", where)
	}
	// Anything else: pgx's message, its repeated lines once.
	var seen []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(seen, l) {
			seen = append(seen, l)
		}
	}
	return fmt.Sprintf("connect to PostgreSQL at %s: %s", where, strings.Join(seen, " "))
}
