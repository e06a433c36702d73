package mediascan

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/plexbutler/butler"
)

// linearSidecars is Sidecars as it was before Folder: every name of the
// folder judged for every media file. Folder must find the same.
func linearSidecars(lib butler.LibraryKind, media string, names []string) []butler.MediaSidecar {
	if lib == butler.LibraryPhotos {
		return nil
	}
	base := strings.TrimSuffix(media, filepath.Ext(media))
	var longerBases []string
	for _, n := range names {
		if _, ok := Kind(lib, n); ok && n != media {
			if b := strings.TrimSuffix(n, filepath.Ext(n)); len(b) > len(base) {
				longerBases = append(longerBases, b)
			}
		}
	}
	longer := func(stem string) bool {
		for _, b := range longerBases {
			if _, theirs := after(stem, b); theirs {
				return true
			}
		}
		return false
	}
	var out []butler.MediaSidecar
	for _, n := range names {
		if n == media || strings.HasPrefix(n, ".") {
			continue
		}
		if s, ok := sidecar(base, n, longer); ok {
			s.Path = n
			out = append(out, s)
		}
	}
	return out
}

// TestFolder_SameAsLinear: on folders of names made of the parts the
// rules look at (cases, dots, hyphens, numbers, letters that fold
// across byte lengths, bytes that are not UTF-8), Folder finds for every
// file exactly what the linear reading finds, in the same order.
func TestFolder_SameAsLinear(t *testing.T) {
	stems := []string{"Alien", "alien", "ALIEN", "Alien (1979)", "Alien (1979).Director's Cut", "Alien.2",
		"K", "\u212a", "k", "Straße", "STRASSE", "ſtar", "Star", "ΣΊΣΥΦΟΣ", "σίσυφος", "x\xffy", "x\xfey", "\ufffd",
		"poster", "Poster", "fanart", "movie", "folder-2", "art-10", "a", "A", "a.b", "a.b.c", "-", ".", ""}
	tails := []string{"", ".en", ".EN.forced", ".eng.sdh", ".pt-BR.hi", ".Commentary.en", ".2", ".Director's Cut",
		".Director's Cut.en", "-poster", "-fanart", "-Cover", "-art", "-x", "2", " (1979)", ".b", ".b.c", "-2"}
	exts := []string{".mkv", ".MP4", ".avi", ".flac", ".srt", ".ASS", ".idx", ".sub", ".vtt", ".jpg", ".PNG",
		".jpeg", ".tbn", ".nfo", ".NFO", ".txt", ".gif", ".\xff", ".\u0130dx", ".\u212a", ""}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		seen := map[string]bool{}
		var names []string
		for range 5 + rng.IntN(60) {
			n := stems[rng.IntN(len(stems))] + tails[rng.IntN(len(tails))] + exts[rng.IntN(len(exts))]
			if rng.IntN(20) == 0 {
				n = "." + n
			}
			if n != "" && !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
		slices.Sort(names)
		for _, lib := range []butler.LibraryKind{butler.LibraryMovies, butler.LibraryShows, butler.LibraryMusic, butler.LibraryPhotos} {
			f := NewFolder(lib, names)
			for _, media := range names {
				want := fmt.Sprint(linearSidecars(lib, media, names))
				if got := fmt.Sprint(f.Sidecars(media)); got != want {
					t.Fatalf("round %d, %s, sidecars of %q among %q:\n  got  %s\n  want %s", round, lib, media, names, got, want)
				}
			}
		}
	}
}

// TestFold: fold agrees with strings.EqualFold.
func TestFold(t *testing.T) {
	words := []string{"a", "A", "k", "K", "\u212a", "s", "S", "ſ", "ß", "ẞ", "SS", "σ", "ς", "Σ", "θ", "ϑ", "Θ",
		"\xff", "\xfe", "\ufffd", "é", "É", "e\u0301", "ǅ", "ǆ", "Ǆ", ".", "-", "Ω", "\u2126", "ω"}
	for _, a := range words {
		for _, b := range words {
			for _, x := range []string{"", "x", "X"} {
				s, u := x+a+b, b+x+a
				if eq, same := strings.EqualFold(s, u), fold(s) == fold(u); eq != same {
					t.Errorf("EqualFold(%q, %q) = %v, fold equal = %v (%q, %q)", s, u, eq, same, fold(s), fold(u))
				}
			}
		}
	}
}
