package butler

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// A server's process is known to the queue by a holder ID: the server's
// node name, and "#" and the process's incarnation when it has one (a
// cluster's servers). The queue records, for every job a process fetched,
// which holder took it; a server restarted under the same name is a new
// incarnation, so the jobs its earlier process held are told apart from
// its own, and released, however soon it came back.

// Incarnated is implemented by a queue whose process has an incarnation
// (engine on PostgreSQL): a number that grows with every process started
// in the cluster, from the database's clock. The Manager writes it with
// its heartbeats.
type Incarnated interface {
	Incarnation() int64
}

// ErrSuperseded is returned by Cluster.Heartbeat when a process of a later
// incarnation holds the node's name: another server runs under the same
// name, or this one was restarted and this process is the stale one.
var ErrSuperseded = errors.New("a server started later runs under this server's name; give each server its own --node")

// NodeRecord is what the cluster knows of a live server.
type NodeRecord struct {
	Heartbeat   time.Time // its last heartbeat, on the store's clock
	Incarnation int64     // the incarnation of its process that wrote it; 0 when none
}

// HolderID is the holder ID of node's process of incarnation (node itself
// when incarnation is 0).
func HolderID(node string, incarnation int64) string {
	if incarnation == 0 {
		return node
	}
	return node + "#" + strconv.FormatInt(incarnation, 10)
}

// ParseHolderID splits a holder ID (HolderID) into its node and
// incarnation; an ID without one is the node, of incarnation 0.
func ParseHolderID(id string) (node string, incarnation int64) {
	i := strings.LastIndexByte(id, '#')
	if i < 0 {
		return id, 0
	}
	n, err := strconv.ParseInt(id[i+1:], 10, 64)
	if err != nil || n <= 0 {
		return id, 0
	}
	return id[:i], n
}

// ValidNodeName reports why name cannot name a server, or nil: a node name
// is 1 to 100 printable characters other than space and "#" (which
// separates a holder ID's incarnation).
func ValidNodeName(name string) error {
	switch {
	case name == "":
		return errors.New("a node name cannot be empty")
	case len(name) > 100:
		return errors.New("a node name is at most 100 bytes")
	case strings.ContainsRune(name, '#'):
		return errors.New(`a node name cannot contain "#"`)
	}
	for _, r := range name {
		if r <= ' ' || r == 0x7f {
			return errors.New("a node name cannot contain spaces or control characters")
		}
	}
	return nil
}
