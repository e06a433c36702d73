// Package pgxconn reaches the pgx connection under a store's database/sql
// transaction, for writers that speak pgx's own interface within it (River's
// pgx driver, COPY).
package pgxconn

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/plexbutler/butler"
)

// Do calls f with the pgx connection that tx runs on (butler.Tx's Raw):
// f's statements run in tx. f must not keep the connection, nor begin,
// commit or roll back.
func Do(tx butler.Tx, f func(*pgx.Conn) error) error {
	if tx.Raw == nil {
		return errors.New("the transaction gives no connection of its own")
	}
	return tx.Raw(func(dc any) error {
		c, ok := dc.(interface{ Conn() *pgx.Conn })
		if !ok {
			return fmt.Errorf("the transaction's connection is a %T, not pgx's", dc)
		}
		return f(c.Conn())
	})
}
