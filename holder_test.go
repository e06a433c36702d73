package butler_test

import (
	"testing"

	"github.com/plexbutler/butler"
)

func TestHolderID(t *testing.T) {
	for _, tc := range []struct {
		node string
		inc  int64
		id   string
	}{
		{"a", 0, "a"},
		{"a", 1764662400123456, "a#1764662400123456"},
		{"host-28400", 7, "host-28400#7"},
		{"db.example-1", 12, "db.example-1#12"},
	} {
		if got := butler.HolderID(tc.node, tc.inc); got != tc.id {
			t.Errorf("HolderID(%q, %d) = %q, want %q", tc.node, tc.inc, got, tc.id)
		}
		if node, inc := butler.ParseHolderID(tc.id); node != tc.node || inc != tc.inc {
			t.Errorf("ParseHolderID(%q) = %q, %d; want %q, %d", tc.id, node, inc, tc.node, tc.inc)
		}
	}
	// Not an incarnation: the whole ID is the node.
	for _, id := range []string{"a#", "a#x", "a#-3", "a#0", "#"} {
		if node, inc := butler.ParseHolderID(id); node != id || inc != 0 {
			t.Errorf("ParseHolderID(%q) = %q, %d; want the ID itself, 0", id, node, inc)
		}
	}
}

func TestValidNodeName(t *testing.T) {
	for name, ok := range map[string]bool{
		"host-28400": true, "db.example.com-1": true, "node_2": true, "ünïcode": true,
		"": false, "a#1": false, "a b": false, "a\tb": false, "a\x7f": false,
		string(make([]byte, 101)): false,
	} {
		if err := butler.ValidNodeName(name); (err == nil) != ok {
			t.Errorf("ValidNodeName(%q) = %v; want ok %v", name, err, ok)
		}
	}
}
