// Package postgres is the Butler's store on PostgreSQL (pgx v5), for several
// servers sharing one database: the same tables as the SQLite store, plus
// node heartbeats, the planner's lease and LISTEN/NOTIFY between servers.
package postgres

import (
	"context"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/pgxconn"
	"github.com/plexbutler/butler/internal/sqlstore"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// migrationLock is the advisory lock key that serialises migrations when
// several servers start at once ("butler" in ASCII).
const migrationLock = 0x6275746c6572

// DB is an open Butler database on PostgreSQL. It implements butler.Store
// and butler.Cluster.
type DB struct {
	*sqlstore.Store
	pool *pgxpool.Pool
	// beat is the heartbeats' own connection (a pool of one), so that a
	// heartbeat never waits for a connection of pool behind the API's and
	// River's statements: a server silent past butler.FenceAfter stops its
	// runs and starts none, and a busy pool must not make it so.
	beat *pgxpool.Pool
}

var (
	_ butler.Store   = (*DB)(nil)
	_ butler.Cluster = (*DB)(nil)
)

// DefaultMaxConns is how many connections a server opens at most when the
// URL does not say (pool_max_conns). River holds one for its LISTEN, and
// its producer, completer and the leader's maintenance take others beside
// Butler's reads and writes: with pgx's own default, the larger of 4 and
// the number of CPUs, a read waited 240 ms for a connection while a long
// history was pruned (BENCHMARKS.md). PostgreSQL allows 100 connections
// by default: 16 leaves room for several servers.
const DefaultMaxConns = 16

// IdleInTransaction is how long PostgreSQL lets a session of this server
// sit in a transaction without sending a statement before it ends the
// session (its idle_in_transaction_session_timeout, unless the URL sets
// one). Butler's transactions send their statements one after another; a
// session that waits is a server frozen in the middle of one (SIGSTOP, a
// paused container), whose locks — the runs' advisory lock among them —
// would otherwise stall every other server's starts for as long as it is
// frozen.
const IdleInTransaction = 10 * time.Second

// idleInTx is the name of PostgreSQL's setting.
const idleInTx = "idle_in_transaction_session_timeout"

// Open connects to the database at url (postgres://...). Call Migrate before
// use. The pool holds at most DefaultMaxConns connections unless the URL
// sets pool_max_conns; the heartbeats have one more of their own.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	if _, set := cfg.ConnConfig.RuntimeParams[idleInTx]; !set {
		cfg.ConnConfig.RuntimeParams[idleInTx] = strconv.FormatInt(IdleInTransaction.Milliseconds(), 10)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, connectError(err, &cfg.ConnConfig.Config)
	}
	// The heartbeats' connection is made now, so that a server the
	// database has no connection left for fails at start, saying so,
	// rather than starting without a heartbeat (it would stay fenced);
	// the pool keeps it open, and makes it again after a failure.
	bcfg := cfg.Copy()
	bcfg.MaxConns, bcfg.MinConns, bcfg.MinIdleConns = 1, 1, 1
	beat, err := pgxpool.NewWithConfig(ctx, bcfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	if err := beat.Ping(pctx); err != nil {
		pool.Close()
		beat.Close()
		return nil, fmt.Errorf("the heartbeats' own connection: %w", connectError(err, &cfg.ConnConfig.Config))
	}
	db := stdlib.OpenDBFromPool(pool)
	return &DB{Store: &sqlstore.Store{DB: db, Dialect: sqlstore.Dialect{Dollar: true, Unavailable: unavailable, LockRuns: lockRuns, RunIDs: runIDs, RawConn: true, CopyRuns: copyRuns,
		NoIndexedBy: true}}, pool: pool, beat: beat}, nil
}

// lockRuns is the store's sqlstore.Dialect.LockRuns: a transaction-level
// advisory lock, released at its commit or rollback, whose key ("butlr"
// and 1) no other user of the database is expected to take.
const lockRuns = `SELECT pg_advisory_xact_lock(x'6275746c7201'::bigint)`

// runIDs is the store's sqlstore.Dialect.RunIDs: the run ids' sequence,
// advanced once per id.
const runIDs = `SELECT nextval(pg_get_serial_sequence('butler_run', 'id')) FROM generate_series(1, ?)`

// copyRuns is the store's sqlstore.Dialect.CopyRuns: COPY into butler_run
// through the transaction's pgx connection, in pgx's binary format. A row
// that the partial unique index refuses fails the COPY, and the
// transaction with it.
func copyRuns(ctx context.Context, tx butler.Tx, rows [][]any) error {
	return pgxconn.Do(tx, func(c *pgx.Conn) error {
		n, err := c.CopyFrom(ctx, pgx.Identifier{"butler_run"}, sqlstore.RunColumns, pgx.CopyFromRows(rows))
		if err != nil {
			return err
		}
		if n != int64(len(rows)) {
			return fmt.Errorf("copy runs: %d of %d copied", n, len(rows))
		}
		return nil
	})
}

// unavailable reports whether err means the server cannot be reached.
func unavailable(err error) bool {
	var ne net.Error
	var ce *pgconn.ConnectError
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe):
		// The server answered: a real SQL error, unless it is shutting down
		// or refusing connections (class 08, 57P01..57P03).
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")
	case errors.As(err, &ce), errors.As(err, &ne), pgconn.SafeToRetry(err), pgconn.Timeout(err),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, driver.ErrBadConn), errors.Is(err, net.ErrClosed):
		return true
	}
	// pgx reports a connection it has already closed by words only.
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "closed pool") || strings.Contains(msg, "failed to connect")
}

// Pool returns the connection pool, for River's driver.
func (d *DB) Pool() *pgxpool.Pool { return d.pool }

// Close closes the pool and the heartbeats' connection.
func (d *DB) Close() error {
	err := d.DB.Close()
	d.pool.Close()
	d.beat.Close()
	return err
}

// Migrate brings Butler's tables up to date, then runs each of more (River's
// migrations), all under one advisory lock, so that servers starting at once
// migrate one after another.
func (d *DB) Migrate(ctx context.Context, more ...func(context.Context) error) error {
	conn, err := d.DB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLock)); err != nil {
		return fmt.Errorf("migrate: take the migration lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrationLock))
	if err := d.Store.Migrate(ctx, conn, migrationFS); err != nil {
		return err
	}
	for _, f := range more {
		if err := f(ctx); err != nil {
			return err
		}
	}
	return nil
}

// dbNow is the database server's clock, in nanoseconds since the Unix
// epoch (microseconds apart): the one clock of the heartbeats and the
// lease, whatever the servers' clocks say.
const dbNow = `(extract(epoch from clock_timestamp()) * 1000000000)::bigint`

// Heartbeat records that node's process of incarnation is alive now, on
// the database's clock, and how long it must be silent before it counts as
// dead; joined reports that its row was inserted rather than updated. A row
// of a later incarnation is left as it is, and ErrSuperseded returned. It
// has a connection of its own.
func (d *DB) Heartbeat(ctx context.Context, node string, incarnation int64, deadAfter time.Duration) (joined bool, err error) {
	// xmax is 0 in a row the statement inserted, the updating
	// transaction's id in one it updated; no row comes back when the
	// WHERE refused the update.
	err = d.beat.QueryRow(ctx, `INSERT INTO butler_node (name, started_at, heartbeat_at, dead_after, incarnation)
		VALUES ($1, `+dbNow+`, `+dbNow+`, $2, $3)
		ON CONFLICT (name) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, dead_after = excluded.dead_after,
			incarnation = excluded.incarnation
		WHERE butler_node.incarnation <= excluded.incarnation
		RETURNING xmax = 0`, node, deadAfter.Nanoseconds(), incarnation).Scan(&joined)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, butler.ErrSuperseded
	}
	return joined, wrap(err)
}

// ClaimName writes node's record for its process of incarnation if the
// name is free (butler.Cluster): no record, this process's, or an earlier
// incarnation's whose heartbeat has stood still for silentFor, on the
// database's clock. Otherwise the record is returned as it stands (a zero
// record when it went in the meantime: the caller claims again).
func (d *DB) ClaimName(ctx context.Context, node string, incarnation int64, silentFor time.Duration) (bool, butler.NodeRecord, error) {
	var claimed bool
	err := d.pool.QueryRow(ctx, `INSERT INTO butler_node (name, started_at, heartbeat_at, dead_after, incarnation)
		VALUES ($1, `+dbNow+`, `+dbNow+`, 0, $2)
		ON CONFLICT (name) DO UPDATE SET started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
			dead_after = butler_node.dead_after, incarnation = excluded.incarnation
		WHERE butler_node.incarnation = excluded.incarnation
			OR (butler_node.incarnation < excluded.incarnation AND butler_node.heartbeat_at < `+dbNow+` - $3)
		RETURNING true`, node, incarnation, silentFor.Nanoseconds()).Scan(&claimed)
	switch {
	case err == nil:
		return true, butler.NodeRecord{}, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return false, butler.NodeRecord{}, wrap(err)
	}
	var at, inc int64
	err = d.pool.QueryRow(ctx, `SELECT heartbeat_at, incarnation FROM butler_node WHERE name = $1`, node).Scan(&at, &inc)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, butler.NodeRecord{}, nil
	}
	if err != nil {
		return false, butler.NodeRecord{}, wrap(err)
	}
	return false, butler.NodeRecord{Heartbeat: time.Unix(0, at), Incarnation: inc}, nil
}

// Leave removes node from the cluster's list (a clean stop of its process
// of incarnation), unless runs are still recorded as running or stopping
// on it (the others end those once it has been silent past its limit:
// DeadNodes), or a later incarnation wrote the record (another process
// runs under the name: the record is its own).
func (d *DB) Leave(ctx context.Context, node string, incarnation int64) error {
	_, err := d.pool.Exec(ctx, `DELETE FROM butler_node WHERE name = $1 AND incarnation <= $2
		AND NOT EXISTS (SELECT 1 FROM butler_run WHERE node = $1 AND state IN ('running', 'stopping'))`, node, incarnation)
	return wrap(err)
}

// DeadNodes returns the nodes whose last heartbeat is older than silentFor,
// or than the node's own limit when that is longer, on the database's
// clock, and removes them from the list.
func (d *DB) DeadNodes(ctx context.Context, silentFor time.Duration) ([]string, error) {
	rows, err := d.pool.Query(ctx, `DELETE FROM butler_node WHERE heartbeat_at < `+dbNow+` - greatest($1, dead_after) RETURNING name`, silentFor.Nanoseconds())
	if err != nil {
		return nil, wrap(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return names, wrap(err)
}

// MaxDeadAfter returns the longest limit of silence that the nodes in the
// list gave with their heartbeats; zero when the list is empty.
func (d *DB) MaxDeadAfter(ctx context.Context) (time.Duration, error) {
	var ns int64
	err := d.pool.QueryRow(ctx, `SELECT coalesce(max(dead_after), 0) FROM butler_node`).Scan(&ns)
	return time.Duration(ns), wrap(err)
}

// Nodes returns the live nodes, their last heartbeats and incarnations.
func (d *DB) Nodes(ctx context.Context) (map[string]butler.NodeRecord, error) {
	rows, err := d.pool.Query(ctx, `SELECT name, heartbeat_at, incarnation FROM butler_node`)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	out := map[string]butler.NodeRecord{}
	for rows.Next() {
		var name string
		var at, inc int64
		if err := rows.Scan(&name, &at, &inc); err != nil {
			return nil, err
		}
		out[name] = butler.NodeRecord{Heartbeat: time.Unix(0, at), Incarnation: inc}
	}
	return out, wrap(rows.Err())
}

// TryLead takes the planner's lease for node for lease from now, or renews
// it, on the database's clock; true when node holds it afterwards.
func (d *DB) TryLead(ctx context.Context, node string, lease time.Duration) (bool, error) {
	var holder string
	err := d.pool.QueryRow(ctx, `INSERT INTO butler_leader (id, node, expires_at) VALUES (1, $1, `+dbNow+` + $2)
		ON CONFLICT (id) DO UPDATE SET node = excluded.node, expires_at = excluded.expires_at
		WHERE butler_leader.node = excluded.node OR butler_leader.expires_at < `+dbNow+`
		RETURNING node`, node, lease.Nanoseconds()).Scan(&holder)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, wrap(err)
	}
	return holder == node, nil
}

// Resign gives the lease up, if node holds it, unless a later incarnation
// than the resigning process's wrote node's record (the lease goes by the
// name: it is that process's).
func (d *DB) Resign(ctx context.Context, node string, incarnation int64) error {
	_, err := d.pool.Exec(ctx, `DELETE FROM butler_leader WHERE node = $1
		AND NOT EXISTS (SELECT 1 FROM butler_node WHERE name = $1 AND incarnation > $2)`, node, incarnation)
	return wrap(err)
}

// Notify sends payload on channel to every server.
func (d *DB) Notify(ctx context.Context, channel, payload string) error {
	_, err := d.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, payload)
	return wrap(err)
}

// Listen calls fn for every notification on the channels until ctx is done,
// reconnecting after a lost connection (it then calls fn with an empty
// channel, so that the caller reloads what it may have missed).
func (d *DB) Listen(ctx context.Context, channels []string, fn func(channel, payload string)) error {
	for ctx.Err() == nil {
		err := d.listenOnce(ctx, channels, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		_ = err
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
		fn("", "") // reconnected: notifications may have been missed
	}
	return ctx.Err()
}

func (d *DB) listenOnce(ctx context.Context, channels []string, fn func(channel, payload string)) error {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A listening connection is not given back to the pool.
	defer conn.Release()
	defer conn.Conn().Close(context.Background())
	for _, ch := range channels {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return err
		}
	}
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		fn(n.Channel, n.Payload)
	}
}

func wrap(err error) error {
	if err != nil && unavailable(err) {
		return &butler.Error{Code: butler.EUNAVAILABLE, Message: "the database cannot be reached: " + err.Error()}
	}
	return err
}
