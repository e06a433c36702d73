package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// tcpProxy forwards a local port to a server; Cut drops every connection
// and refuses new ones until Restore, as a lost network would.
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() { p.Cut(); p.wg.Wait() })
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			p.wg.Go(func() { io.Copy(up, c); up.Close(); c.Close() })
			p.wg.Go(func() { io.Copy(c, up); up.Close(); c.Close() })
		}
	})
}

// Cut closes the listener and every connection.
func (p *tcpProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// Restore listens again on the same address.
func (p *tcpProxy) Restore() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// TestCluster_DatabaseLost: a server that loses the database keeps
// answering what it knows, says 503 for the rest, notices, and comes back
// by itself when the database returns.
func TestCluster_DatabaseLost(t *testing.T) {
	c := startCluster(t, 1)
	u, err := url.Parse(c.url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.addr
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	a := startProc(t, "--data-dir", dir, "--addr", "127.0.0.1:0", "--token", clusterToken, "--database", u.String(), "--node", "cut")
	// A run made before the cut: the calls that read one run must say
	// why they cannot, as the others do.
	id := startedRun(t, a, "/butler/OptimizeDatabase?force=1")

	proxy.Cut()
	if resp, body := do(t, "GET", a.url("/butler"), clusterToken); resp.StatusCode != 200 || !strings.Contains(body, "BackupDatabase") {
		t.Fatalf("GET /butler without the database: %d %s", resp.StatusCode, body)
	}
	for _, r := range []struct{ method, path string }{
		{"GET", "/butler/runs"}, {"POST", "/butler/BackupDatabase?force=1"}, {"DELETE", "/butler/BackupDatabase"},
		{"GET", fmt.Sprintf("/butler/runs/%d", id)}, {"GET", fmt.Sprintf("/butler/runs/%d/log", id)},
	} {
		start := time.Now()
		resp, body := do(t, r.method, a.url(r.path), clusterToken)
		if resp.StatusCode != 503 || !strings.Contains(body, "database cannot be reached") {
			t.Fatalf("%s %s without the database: %d %s; want 503 saying why\nserver log:\n%s", r.method, r.path, resp.StatusCode, body, a.stderr)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s %s took %v to fail", r.method, r.path, d)
		}
	}
	// It notices, and says so in its log.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if !strings.Contains(a.stderr.String(), "cannot reach the database") {
			if time.Now().After(deadline) {
				t.Fatalf("the server did not notice the lost database:\n%s", a.stderr)
			}
			time.Sleep(50 * time.Millisecond) // waiting on another process
			continue
		}
		break
	}

	proxy.Restore()
	deadline = time.Now().Add(30 * time.Second)
	for {
		resp, _ := do(t, "GET", a.url("/butler/runs"), clusterToken)
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not recover after the database came back:\n%s", a.stderr)
		}
		time.Sleep(100 * time.Millisecond) // waiting on another process
	}
	startedRun(t, a, "/butler/CleanOldCacheFiles?force=1")
	deadline = time.Now().Add(20 * time.Second)
	for !strings.Contains(a.stderr.String(), "the database is back") {
		if time.Now().After(deadline) {
			t.Fatalf("no recovery logged:\n%s", a.stderr)
		}
		time.Sleep(50 * time.Millisecond) // waiting on another process
	}
}

// damagedCase is a way of finding the database damaged at start.
type damagedCase struct {
	name   string
	damage func(t *testing.T, path string)
	want   string
}

var damagedCases = []damagedCase{
	{"empty file", func(t *testing.T, path string) {
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
	}, "is empty (0 bytes)"},
	{"not SQLite", func(t *testing.T, path string) {
		if err := os.WriteFile(path, bytes.Repeat([]byte("this is no database \x00\xff"), 300), 0o600); err != nil {
			t.Fatal(err)
		}
	}, "is not a SQLite database"},
	{"quick_check fails", corruptTable, "PRAGMA quick_check found faults"},
}

// TestProcessDamagedDatabaseRefused: an empty, foreign or damaged database
// stops the server (exit 2) before it is changed, with a message that
// names the file, the newest backup and the command that restores it;
// that command, run as given, restores it, and the server starts.
func TestProcessDamagedDatabaseRefused(t *testing.T) {
	butlerBinary(t) // skip early in -short mode
	for _, c := range damagedCases {
		t.Run(c.name, func(t *testing.T) {
			dataDir := newDataDir(t)
			dbPath := filepath.Join(dataDir, "butler.db")
			backups := filepath.Join(dataDir, "Backups")
			if err := os.MkdirAll(backups, 0o700); err != nil {
				t.Fatal(err)
			}
			setMarker(t, dbPath, "17")
			copyFile(t, dbPath, filepath.Join(backups, "butler-20261101-010000.db"))
			setMarker(t, dbPath, "18")
			copyFile(t, dbPath, filepath.Join(backups, "butler-20261102-020000.db"))
			// Not a backup of butler.db, and newer.
			copyFile(t, dbPath, filepath.Join(backups, "plex-20261201-010000.db"))
			c.damage(t, dbPath)
			damaged := readFile(t, dbPath)
			listing := names(t, dataDir)

			args := []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", "damaged-token-1"}
			r := runBinary(t, "", nil, args...)
			newest := filepath.Join(backups, "butler-20261102-020000.db")
			restore := "butler restore --data-dir " + dataDir + " butler-20261102-020000.db"
			wantRefusal(t, r, "database "+dbPath+" ", c.want, "nothing was changed", newest, "run: "+restore, "--new-database")
			if !bytes.Equal(readFile(t, dbPath), damaged) {
				t.Errorf("the damaged database was changed")
			}
			// The server made its machine id before it opened the database;
			// SQLite's read-only check of a database in WAL mode makes its
			// (empty) -wal and -shm files.
			made := func(n string) bool {
				return n == "machine-id" || c.name == "quick_check fails" && (n == "butler.db-wal" || n == "butler.db-shm")
			}
			if got := slices.DeleteFunc(withoutLocks(names(t, dataDir)), made); !slices.Equal(got, withoutLocks(listing)) {
				t.Errorf("the data directory holds %v, was %v", got, listing)
			}
			if fi, err := os.Stat(dbPath + "-wal"); err == nil && fi.Size() > 0 {
				t.Errorf("%s was written to", dbPath+"-wal")
			}
			if c.name != "quick_check fails" {
				return
			}
			// The command of the message, as it is.
			r = runBinary(t, "", nil, strings.Fields(restore)[1:]...)
			if r.code != 0 {
				t.Fatalf("%s: exit code %d; output:\n%s", restore, r.code, r.out)
			}
			p := startProc(t, args[1:]...)
			if got := serverMarker(t, p.url(""), "damaged-token-1"); got != "18" {
				t.Errorf("after the restore: %s=%s, want the newest backup's 18", markerSetting, got)
			}
			if moved := asideFiles(t, dataDir, "before-restore"); !bytes.Equal(readFile(t, moved[""]), damaged) {
				t.Errorf("the damaged database was not kept as it was: %v", moved)
			}
		})
	}
}

// TestProcessDamagedDatabaseNoBackup: with no backup, the message says so
// and still gives the commands.
func TestProcessDamagedDatabaseNoBackup(t *testing.T) {
	butlerBinary(t)
	dataDir := newDataDir(t)
	db := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := runBinary(t, "", nil, "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", "damaged-token-1", "--database", db)
	wantRefusal(t, r, "database "+db+" is empty", "No backup of it is in "+filepath.Join(dataDir, "Backups"),
		"butler restore --data-dir "+dataDir+" --database "+db+" FILE", "--new-database")
}

// TestProcessNewDatabase: --new-database (or BUTLER_NEW_DATABASE=true)
// moves a damaged database and its side files aside, deleting nothing, and
// starts on a new one; on a sound database it changes nothing.
func TestProcessNewDatabase(t *testing.T) {
	butlerBinary(t)
	const token = "new-db-token-123"
	for _, c := range []struct {
		damage damagedCase
		flag   []string
		env    map[string]string
	}{
		{damagedCases[0], []string{"--new-database"}, nil},
		{damagedCases[2], nil, map[string]string{"BUTLER_NEW_DATABASE": "true"}},
	} {
		t.Run(c.damage.name, func(t *testing.T) {
			dataDir := newDataDir(t)
			dbPath := filepath.Join(dataDir, "butler.db")
			setMarker(t, dbPath, "19")
			c.damage.damage(t, dbPath)
			side := map[string][]byte{"": readFile(t, dbPath)}
			if c.damage.name == "empty file" {
				// Left by a server that died; they go with the file.
				side["-wal"], side["-shm"] = []byte("wal of the lost database"), []byte("shm")
				for s, b := range side {
					if err := os.WriteFile(dbPath+s, b, 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			args := append([]string{"--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", token}, c.flag...)
			// The flag in a child process, the variable in this one.
			var base string
			var log fmt.Stringer
			var stop func() int
			if c.env == nil {
				p := startProc(t, args...)
				base, log, stop = p.url(""), p.stderr, func() int { return p.terminate(t, 15*time.Second) }
			} else {
				s := startInProc(t, c.env, args...)
				base, log, stop = s.url(""), s.stderr, func() int { return s.stop(t) }
			}
			if got := serverMarker(t, base, token); got == "19" {
				t.Errorf("the new database has the damaged one's setting")
			}
			moved := asideFiles(t, dataDir, "damaged")
			if len(moved) != len(side) && c.damage.name != "quick_check fails" || moved[""] == "" {
				t.Errorf("moved aside: %v; want %d files", moved, len(side))
			}
			for s, b := range side {
				if !bytes.Equal(readFile(t, moved[s]), b) {
					t.Errorf("the damaged %q file was not kept as it was", s)
				}
			}
			mustContain(t, "log", log.String(), "moved a damaged database file aside")
			mustContain(t, "log", log.String(), "to="+moved[""])
			if code := stop(); code != 0 {
				t.Errorf("exit code %d; output:\n%s", code, log)
			}
			checkNoRunsRunning(t, dbPath)
		})
	}

	t.Run("sound database", func(t *testing.T) {
		dataDir := newDataDir(t)
		dbPath := filepath.Join(dataDir, "butler.db")
		setMarker(t, dbPath, "20")
		p := startProc(t, "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", token, "--new-database")
		if got := serverMarker(t, p.url(""), token); got != "20" {
			t.Errorf("%s=%s, want the database's own 20", markerSetting, got)
		}
		mustContain(t, "log", p.stderr.String(), "--new-database ignored: the database is not damaged")
		if moved := asideFiles(t, dataDir, "damaged"); len(moved) > 0 {
			t.Errorf("files moved aside from a sound database: %v", moved)
		}
	})
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.WriteFile(to, readFile(t, from), 0o600); err != nil {
		t.Fatal(err)
	}
}
