package postgres_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/pgtest"
	"github.com/plexbutler/butler/store/postgres"
)

// stallProxy forwards TCP connections to target until Stall, after which
// it passes nothing on and closes nothing: a database behind a network
// that drops every packet.
type stallProxy struct {
	addr    string
	stalled chan struct{} // closed by Stall
	once    sync.Once
	done    chan struct{} // closed by Release
	release sync.Once
	mu      sync.Mutex
	conns   []net.Conn
	closed  bool // set by Release: later connections are closed at once
	wg      sync.WaitGroup
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{addr: ln.Addr().String(), stalled: make(chan struct{}), done: make(chan struct{})}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.closed {
				c.Close()
				up.Close()
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			p.wg.Go(func() { p.pipe(up, c) })
			p.wg.Go(func() { p.pipe(c, up) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		p.Release()
		p.wg.Wait()
	})
	return p
}

// Release closes every connection: the other ends see them gone.
func (p *stallProxy) Release() {
	p.release.Do(func() {
		close(p.done)
		p.mu.Lock()
		p.closed = true
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	})
}

// pipe copies from src to dst until the proxy stalls, then holds what it
// reads until Release.
func (p *stallProxy) pipe(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-p.stalled:
			<-p.done
			return
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *stallProxy) Stall() { p.once.Do(func() { close(p.stalled) }) }

// TestTransactionLimit_SilentDatabase: a write is not cut off by its
// caller's context once sent (the store's begin, and FinishRun's end
// without a success, one statement committed on its own), so a database
// that stops answering without closing its connections must not hold it
// forever: it fails once the store's TxLimit has passed.
func TestTransactionLimit_SilentDatabase(t *testing.T) {
	writes := []struct {
		name  string
		write func(ctx context.Context, db *postgres.DB, run butler.Run) error
	}{
		{"SaveSettings (a transaction)", func(ctx context.Context, db *postgres.DB, _ butler.Run) error {
			return db.SaveSettings(ctx, map[string]string{"a": "2", "b": "2"})
		}},
		{"FinishRun without a success (one statement)", func(ctx context.Context, db *postgres.DB, run butler.Run) error {
			_, _, err := db.FinishRun(ctx, run.ID, []butler.RunState{butler.StateScheduled}, butler.Finish{
				Outcome: butler.OutcomeFailed, EndedAt: time.Now(), Error: "failed",
			})
			return err
		}},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			u, err := url.Parse(pgtest.Schema(t))
			if err != nil {
				t.Fatal(err)
			}
			proxy := newStallProxy(t, u.Host)
			u.Host = proxy.addr
			ctx := context.Background()
			db, err := postgres.Open(ctx, u.String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			// Before the pool's close, which would otherwise wait for the
			// stalled connections (pgx gives them fifteen seconds).
			t.Cleanup(proxy.Release)
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if err := db.SaveSettings(ctx, map[string]string{"a": "1"}); err != nil {
				t.Fatal(err)
			}
			run, err := db.CreateRun(ctx, &butler.Run{Task: "BackupDatabase", State: butler.StateScheduled, Trigger: butler.TriggerForce, Queue: butler.QueueManual, Progress: -1, ScheduledAt: time.Now()}, nil)
			if err != nil {
				t.Fatal(err)
			}
			db.TxLimit = 500 * time.Millisecond
			proxy.Stall()
			errc := make(chan error, 1)
			go func() { errc <- w.write(ctx, db, run) }()
			select {
			case err := <-errc:
				if err == nil {
					t.Fatal("the write through a database that answers nothing succeeded")
				}
				t.Logf("the write failed as it should: %v", err)
			case <-time.After(20 * time.Second):
				t.Fatal("the write still waits 20 s after the database went silent; the limit is 500 ms")
			}
		})
	}
}
