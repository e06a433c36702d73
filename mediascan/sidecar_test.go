package mediascan_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/mediascan"
)

// sidecarString writes a sidecar as the table below gives it:
// "name kind [language] [flags]".
func sidecarString(s butler.MediaSidecar) string {
	out := s.Path + " " + string(s.Kind)
	if s.Language != "" {
		out += " " + s.Language
	}
	if len(s.Flags) > 0 {
		out += " " + strings.Join(s.Flags, ",")
	}
	return out
}

func TestSidecars(t *testing.T) {
	folder := []string{
		// The media files.
		"Alien (1979).mkv", "Alien (1979).Director's Cut.mkv", "Brazil.mp4",
		// Subtitles of Alien (1979).
		"Alien (1979).srt", "Alien (1979).en.srt", "Alien (1979).en.forced.srt", "Alien (1979).eng.sdh.srt",
		"Alien (1979).EN.CC.Forced.ass", "Alien (1979).pt-BR.hi.ssa", "Alien (1979).fr.default.vtt",
		"Alien (1979).de.idx", "Alien (1979).de.sub", "alien (1979).es.srt", "Alien (1979).Commentary.en.srt",
		"Alien (1979).forced.sdh.forced.srt",
		// The Director's Cut's, which also start with "Alien (1979).".
		"Alien (1979).Director's Cut.en.srt",
		// Images and .nfo: the folder's, Alien's, Brazil's.
		"poster.jpg", "Folder.JPG", "cover.png", "poster-2.jpeg", "fanart.jpg", "background.tbn", "art-1.png",
		"Alien (1979).jpg", "Alien (1979)-poster.png", "Alien (1979)-fanart.jpg", "Alien (1979).nfo", "movie.nfo",
		"Brazil.srt", "Brazil-fanart.jpg", "Brazil.nfo",
		// Not sidecars.
		"Alien (1979)2.srt", "Alien (1979).txt", "notes.nfo", "poster-x.jpg", "poster.gif", ".poster.jpg",
		"Alien (1979).en.srt.bak", "Alien.srt", "screenshot.jpg",
	}
	tests := []struct {
		media string
		want  []string
	}{
		{"Alien (1979).mkv", []string{
			"Alien (1979).srt subtitle",
			"Alien (1979).en.srt subtitle en",
			"Alien (1979).en.forced.srt subtitle en forced",
			"Alien (1979).eng.sdh.srt subtitle eng sdh",
			"Alien (1979).EN.CC.Forced.ass subtitle en forced,sdh",
			"Alien (1979).pt-BR.hi.ssa subtitle pt-br sdh",
			"Alien (1979).fr.default.vtt subtitle fr default",
			"Alien (1979).de.idx subtitle de",
			"Alien (1979).de.sub subtitle de",
			"alien (1979).es.srt subtitle es",
			"Alien (1979).Commentary.en.srt subtitle en",
			"Alien (1979).forced.sdh.forced.srt subtitle forced,sdh",
			"poster.jpg poster", "Folder.JPG poster", "cover.png poster", "poster-2.jpeg poster",
			"fanart.jpg art", "background.tbn art", "art-1.png art",
			"Alien (1979).jpg poster", "Alien (1979)-poster.png poster", "Alien (1979)-fanart.jpg art",
			"Alien (1979).nfo nfo", "movie.nfo nfo",
		}},
		{"Alien (1979).Director's Cut.mkv", []string{
			"Alien (1979).Director's Cut.en.srt subtitle en",
			"poster.jpg poster", "Folder.JPG poster", "cover.png poster", "poster-2.jpeg poster",
			"fanart.jpg art", "background.tbn art", "art-1.png art", "movie.nfo nfo",
		}},
		{"Brazil.mp4", []string{
			"poster.jpg poster", "Folder.JPG poster", "cover.png poster", "poster-2.jpeg poster",
			"fanart.jpg art", "background.tbn art", "art-1.png art", "movie.nfo nfo",
			"Brazil.srt subtitle", "Brazil-fanart.jpg art", "Brazil.nfo nfo",
		}},
	}
	for _, tt := range tests {
		var got []string
		for _, s := range mediascan.Sidecars(butler.LibraryMovies, tt.media, folder) {
			got = append(got, sidecarString(s))
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(tt.want))
		if !slices.Equal(got, want) {
			t.Errorf("Sidecars of %s:\n  got  %q\n  want %q", tt.media, got, want)
		}
	}
}

func TestSidecars_PhotoLibrary(t *testing.T) {
	if got := mediascan.Sidecars(butler.LibraryPhotos, "clip.mp4", []string{"clip.mp4", "clip.srt", "poster.jpg"}); len(got) != 0 {
		t.Errorf("Sidecars in a photo library = %v; want none (its images are media)", got)
	}
	// A music library: an album's cover goes with each track.
	got := mediascan.Sidecars(butler.LibraryMusic, "01 Song.flac", []string{"01 Song.flac", "02 Other.flac", "cover.jpg"})
	if len(got) != 1 || sidecarString(got[0]) != "cover.jpg poster" {
		t.Errorf("Sidecars of a track = %v; want the album's cover", got)
	}
}

// TestSidecars_NameNotUTF8: a name whose extension is not UTF-8 (its
// lower case is longer in bytes) is no sidecar, and no panic.
func TestSidecars_NameNotUTF8(t *testing.T) {
	got := mediascan.Sidecars(butler.LibraryMovies, "a.mkv", []string{"a.mkv", "a.\xff", "a.en.srt"})
	if len(got) != 1 || sidecarString(got[0]) != "a.en.srt subtitle en" {
		t.Errorf("Sidecars beside a name that is not UTF-8 = %v; want the subtitle alone", got)
	}
}
