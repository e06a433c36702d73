package engine

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/pgxconn"
)

// txJobs inserts, deletes and cancels jobs within a store's transaction.
type txJobs interface {
	InsertManyTx(ctx context.Context, tx butler.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
	JobCancelTx(ctx context.Context, tx butler.Tx, jobID int64) (*rivertype.JobRow, error)
	JobDeleteManyTx(ctx context.Context, tx butler.Tx, params *river.JobDeleteManyParams) (*river.JobDeleteManyResult, error)
}

// sqlTxJobs writes jobs through River's database/sql driver (riversqlite
// on SQLite, riverdatabasesql on PostgreSQL).
type sqlTxJobs struct {
	c *river.Client[*sql.Tx]
}

func (j sqlTxJobs) InsertManyTx(ctx context.Context, tx butler.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error) {
	return j.c.InsertManyTx(ctx, tx.Tx, params)
}

func (j sqlTxJobs) JobCancelTx(ctx context.Context, tx butler.Tx, jobID int64) (*rivertype.JobRow, error) {
	return j.c.JobCancelTx(ctx, tx.Tx, jobID)
}

func (j sqlTxJobs) JobDeleteManyTx(ctx context.Context, tx butler.Tx, params *river.JobDeleteManyParams) (*river.JobDeleteManyResult, error) {
	return j.c.JobDeleteManyTx(ctx, tx.Tx, params)
}

// pgxTxJobs writes jobs on PostgreSQL through River's pgx driver, on the
// pgx connection under the store's database/sql transaction (butler.Tx's
// Raw), within that transaction. River's database/sql driver encodes its
// arrays as text: its insert of a thousand jobs takes about twice as long.
// A transaction that gives no Raw goes through sql.
type pgxTxJobs struct {
	c   *river.Client[pgx.Tx]
	sql sqlTxJobs
}

// through writes with pgxWrite on the transaction's pgx connection, or
// with sqlWrite when the transaction gives none.
func through[T any](tx butler.Tx, sqlWrite func() (T, error), pgxWrite func(pgx.Tx) (T, error)) (res T, err error) {
	if tx.Raw == nil {
		return sqlWrite()
	}
	err = pgxconn.Do(tx, func(c *pgx.Conn) (err error) {
		res, err = pgxWrite(connTx{c})
		return err
	})
	return res, err
}

func (j pgxTxJobs) InsertManyTx(ctx context.Context, tx butler.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error) {
	return through(tx,
		func() ([]*rivertype.JobInsertResult, error) { return j.sql.InsertManyTx(ctx, tx, params) },
		func(ptx pgx.Tx) ([]*rivertype.JobInsertResult, error) { return j.c.InsertManyTx(ctx, ptx, params) })
}

func (j pgxTxJobs) JobCancelTx(ctx context.Context, tx butler.Tx, jobID int64) (*rivertype.JobRow, error) {
	return through(tx,
		func() (*rivertype.JobRow, error) { return j.sql.JobCancelTx(ctx, tx, jobID) },
		func(ptx pgx.Tx) (*rivertype.JobRow, error) { return j.c.JobCancelTx(ctx, ptx, jobID) })
}

func (j pgxTxJobs) JobDeleteManyTx(ctx context.Context, tx butler.Tx, params *river.JobDeleteManyParams) (*river.JobDeleteManyResult, error) {
	return through(tx,
		func() (*river.JobDeleteManyResult, error) { return j.sql.JobDeleteManyTx(ctx, tx, params) },
		func(ptx pgx.Tx) (*river.JobDeleteManyResult, error) { return j.c.JobDeleteManyTx(ctx, ptx, params) })
}

// errNotOurs is what connTx answers to a begin, commit or rollback: the
// transaction is the store's.
var errNotOurs = errors.New("engine: the transaction is the store's: it begins, commits and rolls back")

// connTx is a pgx.Tx over a connection on which the store's transaction
// is open: its statements run in that transaction.
type connTx struct{ c *pgx.Conn }

var _ pgx.Tx = connTx{}

func (t connTx) Begin(context.Context) (pgx.Tx, error) { return nil, errNotOurs }
func (t connTx) Commit(context.Context) error          { return errNotOurs }
func (t connTx) Rollback(context.Context) error        { return errNotOurs }
func (t connTx) Conn() *pgx.Conn                       { return t.c }
func (t connTx) LargeObjects() pgx.LargeObjects        { return pgx.LargeObjects{} }

func (t connTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	return t.c.CopyFrom(ctx, table, columns, src)
}

func (t connTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return t.c.SendBatch(ctx, b)
}

func (t connTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	return t.c.Prepare(ctx, name, sql)
}

func (t connTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return t.c.Exec(ctx, sql, args...)
}

func (t connTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return t.c.Query(ctx, sql, args...)
}

func (t connTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return t.c.QueryRow(ctx, sql, args...)
}
