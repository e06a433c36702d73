package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/plexbutler/butler/api"
	"github.com/plexbutler/butler/client/clienttest"
)

// BenchmarkRouting measures the handler's own cost of a request that a
// route takes (protected and public) and of one that none takes (404,
// 405), with the answer written to a recorder: no network.
func BenchmarkRouting(b *testing.B) {
	s := clienttest.New(b, clienttest.Config{})
	h, err := api.NewHandler(api.Config{Manager: s.Manager, Token: clienttest.Token, MachineIdentifier: "bench", Version: "1"})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, method, path string }{
		{"GET_butler", http.MethodGet, "/butler"},
		{"GET_identity", http.MethodGet, "/identity"},
		{"GET_404", http.MethodGet, "/library/sections"},
		{"PUT_405", http.MethodPut, "/butler"},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(c.method, c.path, nil)
			req.Header.Set("X-Plex-Token", clienttest.Token)
			for b.Loop() {
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
