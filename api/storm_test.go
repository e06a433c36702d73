package api_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/plexbutler/butler"
)

// TestStorm has 50 clients start and stop the same tasks at once. Every
// request must be answered with a status the contract allows, no task may
// ever run twice at once, and nothing may be left running afterwards.
func TestStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("storm test skipped in -short mode")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := newServer(t)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()

	type op struct {
		method, path string
		allowed      map[int]bool
	}
	ops := []op{
		{"POST", "/butler/BackupDatabase", map[int]bool{200: true, 202: true}},
		{"POST", "/butler/BackupDatabase?force=1", map[int]bool{200: true, 202: true}},
		{"DELETE", "/butler/BackupDatabase", map[int]bool{200: true, 404: true}},
		{"POST", "/butler/OptimizeDatabase?force=true", map[int]bool{200: true, 202: true}},
		{"DELETE", "/butler/OptimizeDatabase/", map[int]bool{200: true, 404: true}},
		{"POST", "/butler", map[int]bool{200: true}},
		{"DELETE", "/butler", map[int]bool{200: true}},
		{"GET", "/butler", map[int]bool{200: true}},
	}
	const clients, perClient = 50, 12
	var wg sync.WaitGroup
	errs := make(chan error, clients*perClient)
	counts := make([]map[int]int, clients)
	for c := range clients {
		counts[c] = map[int]int{}
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			for range perClient {
				o := ops[rng.IntN(len(ops))]
				r, _ := http.NewRequest(o.method, s.URL+o.path, nil)
				r.Header.Set("X-Plex-Token", token)
				resp, err := client.Do(r)
				if err != nil {
					errs <- fmt.Errorf("%s %s: %v", o.method, o.path, err)
					continue
				}
				resp.Body.Close()
				counts[c][resp.StatusCode]++
				if !o.allowed[resp.StatusCode] {
					errs <- fmt.Errorf("%s %s: status %d", o.method, o.path, resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	total := 0
	for _, m := range counts {
		for _, n := range m {
			total += n
		}
	}
	if total != clients*perClient {
		t.Fatalf("%d answers for %d requests", total, clients*perClient)
	}
	for name, b := range s.actions {
		if got := b.maxSeen.Load(); got > 1 {
			t.Errorf("%s ran %d times at once", name, got)
		}
	}
	runs, err := s.db.Runs(t.Context(), butler.RunFilter{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d requests made %d runs", total, len(runs))
	if len(runs) == 0 {
		t.Fatal("the storm made no runs")
	}
	s.shutdown()
	for name, b := range s.actions {
		if n := b.running.Load(); n != 0 {
			t.Errorf("%s still running %d after shutdown", name, n)
		}
	}
}
